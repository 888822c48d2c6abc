"""OpenMetrics ``x_created`` samples: the time a counter, histogram or summary started counting, not a count.

They load as rows like every other sample (accounted: rows + rejected = samples written), with ``_type``
``created``; nothing that reads counters may take them for one. The Prometheus API gives no type, so there a
``x_created`` series is typed by name only beside a sibling of its family (``x_total``, ``x_count`` ...).
"""

from __future__ import annotations

import json
import warnings

import obsnb as ob

T0 = 1_795_000_000.0  # the counters' creation time written in every _created sample


def _load(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ob.load(path, **kw)


def _types(df) -> dict:
    return {m: sorted({t if isinstance(t, str) else "null" for t in df[df["metric"] == m]["_type"]})
            for m in sorted(set(df["metric"]))}


def _openmetrics(tmp_path, n=20):
    lines = ["# TYPE jobs counter", "# TYPE job_seconds histogram", "# TYPE rpc_seconds summary", "# TYPE queue_depth gauge"]
    for i in range(n):
        t = T0 + 30 * i
        lines += [f'jobs_total{{outcome="ok"}} {i * 3} {t:.3f}', f'jobs_created{{outcome="ok"}} {T0:.3f} {t:.3f}',
                  f'job_seconds_bucket{{le="1.0"}} {i} {t:.3f}', f'job_seconds_bucket{{le="+Inf"}} {i} {t:.3f}',
                  f"job_seconds_count {i} {t:.3f}", f"job_seconds_sum {i * 0.5} {t:.3f}",
                  f"job_seconds_created {T0:.3f} {t:.3f}", f"rpc_seconds_count {i} {t:.3f}",
                  f"rpc_seconds_sum {i * 0.1} {t:.3f}", f"rpc_seconds_created {T0:.3f} {t:.3f}",
                  f"queue_depth {i % 4} {t:.3f}"]
    path = tmp_path / "jobs.om.txt"
    path.write_text("\n".join(lines + ["# EOF"]) + "\n")
    return path


def test_created_samples_are_typed_created_and_kept(tmp_path):
    n = 20
    df = _load(_openmetrics(tmp_path, n))
    info = ob.load_info(df)
    assert info.records_read == info.rows_loaded + info.n_rejected == 11 * n and info.n_rejected == 0
    assert _types(df) == {"job_seconds_bucket": ["histogram"], "job_seconds_count": ["histogram"],
                          "job_seconds_created": ["created"], "job_seconds_sum": ["histogram"], "jobs_created": ["created"],
                          "jobs_total": ["counter"], "queue_depth": ["gauge"], "rpc_seconds_count": ["summary"],
                          "rpc_seconds_created": ["created"], "rpc_seconds_sum": ["summary"]}
    created = df[df["_type"] == "created"]
    assert len(created) == 3 * n and set(created["value"]) == {T0}  # the value is the creation time, as written
    assert created["_temporality"].isna().all()  # not a cumulative count
    assert set(df[df["metric"] == "jobs_total"]["_temporality"]) == {"cumulative"}


def test_a_family_named_created_keeps_its_own_type(tmp_path):
    """``# TYPE tasks_created counter`` is a counter family of that name (its samples are ``tasks_created``)."""
    path = tmp_path / "tasks.prom"
    path.write_text("# TYPE tasks_created counter\ntasks_created 5 1795000000000\n"
                    "# TYPE build_created gauge\nbuild_created 1795000000 1795000000000\n")
    assert _types(_load(path)) == {"build_created": ["gauge"], "tasks_created": ["counter"]}


def test_audit_does_not_count_created_as_throughput_or_failure(tmp_path):
    lines = ["# TYPE tasks counter"]
    for i in range(20):
        t = T0 + 30 * i
        for outcome in ("ok", "failed"):
            lines += [f'tasks_total{{outcome="{outcome}"}} {i} {t:.3f}', f'tasks_created{{outcome="{outcome}"}} {T0:.3f} {t:.3f}']
    path = tmp_path / "tasks.om.txt"
    path.write_text("\n".join(lines + ["# EOF"]) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        card = ob.audit(None, None, _load(path))
    numbers = card.of("metrics_that_matter")["numbers"]
    # tasks_total counts the work and, by its outcome="failed" label, the failures; tasks_created is neither
    assert (numbers["throughput"], numbers["failure"]) == ("tasks_total", "tasks_total")


def _api_answer(tmp_path, names):
    result = [{"metric": {"__name__": name, "worker": "w1"},
               "values": [[T0 + 60 * i, str(T0 if name.endswith("_created") else i)] for i in range(5)]} for name in names]
    path = tmp_path / "answer.json"
    path.write_text(json.dumps({"status": "success", "data": {"resultType": "matrix", "result": result}}))
    return path


def test_prometheus_api_created_beside_its_total_is_created(tmp_path):
    df = _load(_api_answer(tmp_path, ["jobs_total", "jobs_created", "lat_seconds_count", "lat_seconds_created", "up"]))
    assert len(df) == 25
    assert _types(df) == {"jobs_created": ["created"], "jobs_total": ["null"], "lat_seconds_count": ["null"],
                          "lat_seconds_created": ["created"], "up": ["null"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        card = ob.audit(None, None, df)
    assert card.of("metrics_that_matter")["numbers"]["throughput"] == "jobs_total"


def test_prometheus_api_lone_created_stays_untyped(tmp_path):
    """Without a sibling the name alone does not say it is a creation time (``files_created`` may count files)."""
    df = _load(_api_answer(tmp_path, ["files_created", "up"]))
    assert "_type" not in df.columns or df["_type"].isna().all()


def test_prometheus_backend_created_beside_its_total_is_created():
    """The same rule through ``prometheus://`` (a query_range answer of a server that kept ``_created`` series)."""
    import http.server
    import threading
    import urllib.parse

    class Prom(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _answer(self, query: str):
            q = urllib.parse.parse_qs(query)
            start, end, step = (float(q[k][0]) for k in ("start", "end", "step"))
            times = [start + k * step for k in range(int(round((end - start) / step)) + 1)]
            result = [{"metric": {"__name__": name}, "values": [[t, str(T0 if name.endswith("_created") else i)]
                                                                for i, t in enumerate(times)]}
                      for name in ("jobs_total", "jobs_created")]
            body = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": result}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self._answer(urllib.parse.urlsplit(self.path).query)

        def do_POST(self):
            self._answer(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Prom)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        df = _load(f"prometheus://127.0.0.1:{server.server_port}", query='{__name__=~"jobs_.*"}', start=T0,
                   end=T0 + 600, step=60, progress=False)
    finally:
        server.shutdown()
    assert len(df) == 2 * 11
    assert _types(df) == {"jobs_created": ["created"], "jobs_total": ["null"]}
    assert set(df[df["metric"] == "jobs_created"]["value"]) == {T0}


def test_prometheus_text_created_gauge_beside_its_counter_is_created(tmp_path):
    """The Prometheus text format of client libraries: ``x_created`` as a gauge family of its own beside ``x_total``
    (or a histogram ``x``); a gauge ``build_created`` with no such sibling stays a gauge."""
    path = tmp_path / "client.prom"
    path.write_text("# TYPE jobs_total counter\njobs_total 3 1795000000000\n"
                    "# TYPE jobs_created gauge\njobs_created 1795000000 1795000000000\n"
                    "# TYPE lat_seconds histogram\nlat_seconds_count 2 1795000000000\n"
                    "# TYPE lat_seconds_created gauge\nlat_seconds_created 1795000000 1795000000000\n"
                    "# TYPE build_created gauge\nbuild_created 1795000000 1795000000000\n")
    assert _types(_load(path)) == {"build_created": ["gauge"], "jobs_created": ["created"], "jobs_total": ["counter"],
                                   "lat_seconds_count": ["histogram"], "lat_seconds_created": ["created"]}

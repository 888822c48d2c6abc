"""Concurrent vs sequential chunk fetching from a real Prometheus: 3 h at a 0.25 s step (43,201 points per series).

The range is over Prometheus' 11,000-point limit, so it is split into four chunks. obsnb fetches them
concurrently (``obsnb.sources.prometheus.Prometheus``, 4 workers); the competitor fetches the same
chunks one after another, which is what prometheus-api-client does (``PrometheusConnect.custom_query_range``
per chunk; used when importable, else the same sequential loop over one ``requests.Session``). Both decode
the JSON answers; neither builds a frame, so the ratio is about the fetching.

    python benchmarks/bench_prometheus_chunks.py [--runs 7] [--query Q] [--latency-ms 0]

Prometheus is reused from ``$OBSNB_PROMETHEUS_URL`` or ``$OBSNB_BACKENDS_DIR/env`` (default
/tmp/obsnb-backends/env), else started with ``scripts/backends.sh`` (and stopped afterwards).
``--latency-ms N`` puts a loopback proxy in front of Prometheus that delays each answer by N ms, to
show the effect of a remote server's round trip; its result is printed as a separate, labelled line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import pathlib
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from obsnb.sources.backend import resolve  # noqa: E402
from obsnb.sources.base import ReadContext  # noqa: E402
from obsnb.sources.prometheus import Prometheus, fmt_seconds, range_chunks  # noqa: E402

T0 = 1704067200
STEP_NS = 250_000_000


def prometheus_url() -> tuple[str, bool]:
    """(base URL, whether this script started it)."""
    if os.environ.get("OBSNB_PROMETHEUS_URL"):
        return os.environ["OBSNB_PROMETHEUS_URL"], False
    env = pathlib.Path(os.environ.get("OBSNB_BACKENDS_DIR", "/tmp/obsnb-backends")) / "env"
    if env.exists():
        vals = dict(line.split("=", 1) for line in env.read_text().splitlines() if "=" in line)
        try:
            urllib.request.urlopen(vals["OBSNB_PROMETHEUS_URL"] + "/-/ready", timeout=2).read()
            return vals["OBSNB_PROMETHEUS_URL"], False
        except OSError:
            pass
    out = subprocess.run(["bash", str(ROOT / "scripts" / "backends.sh"), "start"], capture_output=True, text=True,
                         check=True).stdout
    vals = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return vals["OBSNB_PROMETHEUS_URL"], True


def delaying_proxy(target: str, delay_s: float) -> ThreadingHTTPServer:
    """A loopback proxy that forwards to ``target`` and answers ``delay_s`` later (a remote server's round trip)."""
    session = requests.Session()

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            r = session.post(target + self.path, data=body, headers={"Content-Type": self.headers["Content-Type"]})
            time.sleep(delay_s)
            self.send_response(r.status_code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(r.content)))
            self.end_headers()
            self.wfile.write(r.content)

        do_GET = do_POST

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def obsnb_concurrent(base: str, query: str) -> int:
    ctx = ReadContext(options={"progress": False, "step": STEP_NS / 1e9})
    req, _ = resolve("prometheus://" + base.partition("://")[2], kind="metrics", query=query, start_ns=T0 * 10**9,
                     end_ns=(T0 + 3 * 3600) * 10**9, options=ctx.options)
    backend = Prometheus()
    backend._notes = []
    from obsnb.sources import _http

    client = _http.make_client(req)
    objs = backend._chunks(client, req, ctx, req.start_ns, req.end_ns, STEP_NS, 11_000, {})
    client.close()
    return sum(len(s["values"]) for o in objs for s in o["data"]["result"])


def chunks() -> list[tuple[int, int]]:
    return range_chunks(T0 * 10**9, (T0 + 3 * 3600) * 10**9, STEP_NS, 11_000)


def sequential_requests(base: str, query: str) -> int:
    """What prometheus-api-client does, without it installed: one request per chunk, one after another."""
    s = requests.Session()
    n = 0
    for a, b in chunks():
        r = s.get(base + "/api/v1/query_range", params={"query": query, "start": fmt_seconds(a), "end": fmt_seconds(b),
                                                         "step": "0.25"})
        r.raise_for_status()
        n += sum(len(x["values"]) for x in r.json()["data"]["result"])
    return n


def sequential_pac(base: str, query: str) -> int:
    from prometheus_api_client import PrometheusConnect

    pc = PrometheusConnect(url=base, disable_ssl=True)
    n = 0
    for a, b in chunks():
        res = pc.custom_query_range(query, dt.datetime.fromtimestamp(a / 1e9, dt.timezone.utc),
                                    dt.datetime.fromtimestamp(b / 1e9, dt.timezone.utc), "0.25")
        n += sum(len(x["values"]) for x in res)
    return n


def compare(label: str, base: str, query: str, runs: int, seq) -> None:
    conc_t, seq_t = [], []
    n_conc = n_seq = 0
    obsnb_concurrent(base, query)  # warm up both paths (server caches, connections)
    seq(base, query)
    for i in range(runs):  # alternate the order so neither side always runs on a warmer server
        order = [("c", obsnb_concurrent), ("s", seq)] if i % 2 == 0 else [("s", seq), ("c", obsnb_concurrent)]
        for tag, fn in order:
            t = time.perf_counter()
            n = fn(base, query)
            (conc_t if tag == "c" else seq_t).append(time.perf_counter() - t)
            n_conc, n_seq = (n, n_seq) if tag == "c" else (n_conc, n)
    # prometheus-api-client rounds start/end to whole seconds, so its chunks can overlap by a point
    # (a duplicate per series at each boundary); the counts are printed, not required to match.
    mc, ms = statistics.median(conc_t), statistics.median(seq_t)
    print(f"{label}: {len(chunks())} chunks, points obsnb {n_conc} / sequential {n_seq}, median of {runs}: "
          f"obsnb concurrent {mc * 1000:.1f} ms, sequential ({seq.__name__}) {ms * 1000:.1f} ms, ratio {ms / mc:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--query", default="rate(obsnb_http_requests_total[5m])")
    ap.add_argument("--latency-ms", type=float, default=0.0)
    args = ap.parse_args()
    base, started = prometheus_url()
    try:
        try:
            import prometheus_api_client  # noqa: F401

            seq = sequential_pac
        except ImportError:
            seq = sequential_requests
        print(f"query {args.query!r}, [T0, T0+3h] at 0.25 s, Prometheus at {base}, {os.cpu_count()} CPUs")
        compare("loopback", base, args.query, args.runs, seq)
        if args.latency_ms:
            proxy = delaying_proxy(base, args.latency_ms / 1000)
            compare(f"through a proxy adding {args.latency_ms:g} ms per answer", f"http://127.0.0.1:{proxy.server_port}",
                    args.query, args.runs, seq)
            proxy.shutdown()
    finally:
        if started:
            subprocess.run(["bash", str(ROOT / "scripts" / "backends.sh"), "stop"], capture_output=True)


if __name__ == "__main__":
    main()

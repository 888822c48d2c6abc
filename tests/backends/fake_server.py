"""A local HTTP server on 127.0.0.1:0 that answers like a backend, for backends that cannot be installed here.

Loki, Elasticsearch/OpenSearch, Jaeger, Tempo and a ClickHouse HTTP interface are not packaged for
this machine (../shared/backends/BACKENDS.md), so their tests talk to :class:`FakeServer`, which replays
the response shapes documented by each project (paging, limits and error bodies included) from an
in-memory data set. Tests that use it say ``fake_server`` in their names.

    with FakeServer(LokiFake(entries)) as srv:
        ob.load("loki://" + srv.hostport, query='{app="api"}', ...)
        srv.requests  # every request: method, path, params, headers, body
"""

from __future__ import annotations

import dataclasses
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclasses.dataclass
class Request:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclasses.dataclass
class Response:
    status: int = 200
    body: Any = b""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def json(cls, obj: Any, status: int = 200, **headers: str) -> "Response":
        return cls(status, json.dumps(obj).encode(), {"Content-Type": "application/json", **headers})

    @classmethod
    def text(cls, text: str, status: int = 200, **headers: str) -> "Response":
        return cls(status, text.encode(), {"Content-Type": "text/plain; charset=utf-8", **headers})


class FakeServer:
    """Serve ``handler(Request) -> Response`` on a free loopback port, recording every request."""

    def __init__(self, handler: Callable[[Request], Response]):
        self.handler = handler
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self):
                url = urllib.parse.urlsplit(self.path)
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                params = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
                if self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
                    params.update(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
                req = Request(self.command, url.path, params, dict(self.headers.items()), body)
                with outer._lock:
                    outer.requests.append(req)
                try:
                    resp = outer.handler(req)
                except Exception as exc:  # a bug in a fake shows up as a 500 with the traceback's last line
                    resp = Response.text(f"fake server error: {type(exc).__name__}: {exc}", 500)
                data = resp.body if isinstance(resp.body, bytes) else str(resp.body).encode()
                self.send_response(resp.status)
                for k, v in resp.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PUT = _serve

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.hostport = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.hostport}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def paths(self, prefix: str = "") -> list[str]:
        return [r.path for r in self.requests if r.path.startswith(prefix)]


class Flaky:
    """Wrap a handler: the first ``n`` requests get ``status`` (with ``body``), later ones the real answer."""

    def __init__(self, inner: Callable[[Request], Response], n: int, status: int = 503, body: str = "overloaded",
                 retry_after: str | None = None, match: Callable[[Request], bool] | None = None):
        self.inner, self.left, self.status, self.body = inner, n, status, body
        self.retry_after, self.match = retry_after, match
        self._lock = threading.Lock()

    def __call__(self, req: Request) -> Response:
        with self._lock:
            hit = self.left > 0 and (self.match is None or self.match(req))
            if hit:
                self.left -= 1
        if hit:
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return Response.text(self.body, self.status, **headers)
        return self.inner(req)

"""ClickHouse's HTTP interface in front of the real ClickHouse engine (chdb), for tests named ``chdb_http_shim``.

chdb is ClickHouse compiled as a library (no server of its own), so :class:`ChdbShim` is the server: a
handler for :class:`fake_server.FakeServer` (a threaded ``http.server`` on 127.0.0.1) that answers as
ClickHouse's HTTP interface does, so obsnb's real HTTP client code path is exercised:

* the SQL is the POST body (or the ``query=`` parameter); a trailing ``FORMAT X`` picks the output format
  (default ``TabSeparated``); URL parameters other than ``query``/``database`` are settings
  (``output_format_arrow_string_as_string=1`` ...), ``database=`` is the current database;
* an exception is answered with ClickHouse's own text (``Code: 47. DB::Exception: ...``), the
  ``X-ClickHouse-Exception-Code`` header and the status ClickHouse's HTTPHandler gives that code
  (syntax and type errors 400, unknown table/identifier/function/database 404, auth 403, otherwise 500).

The tables are created by :mod:`otel_schema` (the exporter's documented columns) and filled by the tests.
"""

from __future__ import annotations

import re
import threading

from fake_server import Request, Response

try:
    import chdb.session as chs
except ImportError:  # the tests call need(HAVE_CHDB, ...): a skip locally, a failure in CI
    chs = None

HAVE_CHDB = chs is not None
_FORMAT = re.compile(r"(?is)\s+FORMAT\s+(\w+)\s*;?\s*$")
_CODE = re.compile(r"Code:\s*(\d+)")
# ClickHouse's HTTPHandler exceptionCodeToHTTPStatus, for the codes these tests can meet
STATUS = {
    **dict.fromkeys((6, 26, 27, 38, 41, 43, 53, 62, 69, 70, 72, 169, 170), 400),    # parse, syntax, type
    **dict.fromkeys((46, 47, 60, 63, 73, 81, 115), 404),                             # unknown function/identifier/table/db/format/setting
    **dict.fromkeys((192, 193, 516), 403),                                           # unknown user, wrong password, auth failed
    194: 401, 159: 504, 209: 503, 210: 503, 48: 501,
}


class ChdbShim:
    """``handler(Request) -> Response`` running the request's SQL on one chdb session (serialised by a lock)."""

    def __init__(self, path: str | None = None):
        self.session = chs.Session(path) if path else chs.Session()
        self.lock = threading.Lock()
        self.sql: list[str] = []

    def execute(self, sql: str, fmt: str = "TabSeparated"):
        """Run SQL directly (DDL and fixture inserts)."""
        with self.lock:
            return self.session.query(sql, fmt)

    def __call__(self, req: Request) -> Response:
        sql = req.body.decode() if req.body else req.params.get("query", "")
        self.sql.append(sql)
        m = _FORMAT.search(sql)
        fmt = m.group(1) if m else "TabSeparated"
        sql = sql[: m.start()] if m else sql
        settings = {k: v for k, v in req.params.items() if k not in ("query", "database")}
        for k in settings:
            if not re.fullmatch(r"\w+", k):
                return _error(f"Code: 115. DB::Exception: Unknown setting '{k}'. (UNKNOWN_SETTING)")
        with self.lock:
            try:
                if req.params.get("database"):
                    self.session.query(f"USE {req.params['database']}")
                for k, v in settings.items():
                    self.session.query(f"SET {k} = '{v}'")
                res = self.session.query(sql, fmt)
            except Exception as exc:  # chdb raises ChdbError/RuntimeError with ClickHouse's own text
                return _error(str(exc))
            finally:
                if req.params.get("database"):
                    self.session.query("USE default")
        data = res.bytes() if hasattr(res, "bytes") else bytes(res or b"")
        ctype = "application/octet-stream" if fmt.lower().startswith(("arrow", "parquet", "native")) else "text/plain; charset=UTF-8"
        return Response(200, data, {"Content-Type": ctype})


def _error(text: str) -> Response:
    m = _CODE.search(text)
    code = int(m.group(1)) if m else 1001
    body = text.strip() + " (version 26.9.0 (chdb))\n"
    return Response(STATUS.get(code, 500), body.encode(), {"Content-Type": "text/plain; charset=UTF-8",
                                                          "X-ClickHouse-Exception-Code": str(code)})

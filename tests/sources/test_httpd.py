"""nginx/Apache access and error logs: typed fields, the request split, levels, real Filebeat test lines."""

from __future__ import annotations

import warnings

import pandas as pd

import obsnb as ob
from _support import REALWORLD, need
from conformance import ConformanceSuite, load_quiet, vals
from obsnb.registry import sniff

ACCESS = (
    b'127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326\n'
    b'10.0.0.1 - - [10/Oct/2000:13:55:37 +0000] "POST /api/jobs?x=1 HTTP/1.1" 503 - "https://ref/" "curl/8.0" 0.250\n'
    b'10.0.0.2 - - [10/Oct/2000:13:55:38 +0000] "GET /x HTTP/2.0" 404 12 "-" "Mozilla/5.0 (X11)" rt=0.004\n'
)
ACCESS_MESSY = b'nope\n127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 1\n127.0.0.1 - - [10/Oct'


class TestAccessLogConformance(ConformanceSuite):
    fmt = "web_access"
    kind = "logs"
    suffix = ".log"
    good = ACCESS
    good_rows = 3
    messy = ACCESS_MESSY
    messy_good = 1
    messy_bad = 2
    first_bad_line = 1


ERRORS = (
    b"[Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 35708:tid 4328636416] [client 72.15.99.187:5000] "
    b"File does not exist: /usr/local/apache2/htdocs/favicon.ico\n"
    b"[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties\n"
    b"[Sun Dec 04 04:47:45 2005] [proxy:warn] something\n"
    b"[Sun Dec 04 04:47:46 2005] [core:trace3] detail\n"
)


def _load(tmp_path, data, name="x.log"):
    p = tmp_path / name
    p.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ob.load(str(p)), p


def test_access_log_fields_are_typed_and_split(tmp_path):
    """Common and combined lines: request split, status/bytes int, duration from a trailing request time."""
    df, p = _load(tmp_path, ACCESS)
    assert sniff(ACCESS, str(p)) == "web_access"
    assert list(df["time"]) == [pd.Timestamp("2000-10-10T20:55:36Z"), pd.Timestamp("2000-10-10T13:55:37Z"),
                                pd.Timestamp("2000-10-10T13:55:38Z")]
    assert list(df["method"]) == ["GET", "POST", "GET"]
    assert list(df["path"]) == ["/apache_pb.gif", "/api/jobs?x=1", "/x"]
    assert list(df["protocol"]) == ["HTTP/1.0", "HTTP/1.1", "HTTP/2.0"]
    assert list(df["status"]) == [200, 503, 404]
    assert vals(df["bytes"]) == [2326, None, 12]
    assert vals(df["user"]) == ["frank", None, None]
    assert vals(df["user_agent"]) == [None, "curl/8.0", "Mozilla/5.0 (X11)"]
    assert vals(df["duration_ms"]) == [None, 250.0, 4.0]
    assert list(df["level"]) == ["INFO", "ERROR", "WARNING"]
    assert list(df["event"]) == ["GET /apache_pb.gif", "POST /api/jobs?x=1", "GET /x"]


def test_filebeat_nginx_access_lines_match_filebeat_expected_fields():
    """Filebeat's nginx test lines (X-Forwarded-For lists, IPv6, an empty request) give the fields Filebeat expects."""
    import json

    path = REALWORLD / "ecs" / "beats-nginx-access" / "test.log"
    need(path.exists(), f"{path} is missing (../shared/realworld, or set OBSNB_REALWORLD)")
    expected = json.loads((path.parent / "test.log-expected.json").read_text())
    df = load_quiet(path)
    assert ob.load_info(df).n_rejected == 0
    assert list(df["status"]) == [e["http.response.status_code"] for e in expected]
    assert list(df["bytes"]) == [e["http.response.body.bytes"] for e in expected]
    assert vals(df["method"]) == [e.get("http.request.method") for e in expected]
    assert vals(df["path"]) == [e.get("url.original") for e in expected]
    assert list(df["time"]) == [pd.Timestamp(e["@timestamp"]) for e in expected]
    # Filebeat keeps "-" (nginx's "no value"); obsnb makes it null
    assert vals(df["user_agent"]) == [None if e.get("user_agent.original") == "-" else e.get("user_agent.original")
                                      for e in expected]


def test_error_logs_apache_and_nginx(tmp_path):
    """Apache 2.4 and 1.3/2.0 error lines and nginx's give level, module, pid, client and message."""
    df, p = _load(tmp_path, ERRORS)
    assert sniff(ERRORS, str(p)) == "web_error"
    assert list(df["level"]) == ["ERROR", "INFO", "WARNING", "DEBUG"]
    assert vals(df["module"]) == ["core", None, "proxy", "core"]
    assert vals(df["pid"]) == [35708, None, None, None]
    assert vals(df["client"]) == ["72.15.99.187:5000", None, None, None]
    assert df["event"][0] == "[client 72.15.99.187:5000] File does not exist: /usr/local/apache2/htdocs/favicon.ico"
    assert df["time"][0] == pd.Timestamp("2000-10-11T14:32:52.123456Z")
    nginx = (b"2024/05/14 12:00:01 [error] 1234#5678: *9 connect() failed (111: Connection refused) while connecting\n"
             b"2024/05/14 12:00:02 [warn] 1234#5678: an upstream response is buffered\n")
    df, p = _load(tmp_path, nginx, "error.log")
    assert sniff(nginx, str(p)) == "web_error"
    assert list(df["level"]) == ["ERROR", "WARNING"]
    assert vals(df["connection"]) == ["9", None]
    assert list(df["event"]) == ["connect() failed (111: Connection refused) while connecting",
                                 "an upstream response is buffered"]

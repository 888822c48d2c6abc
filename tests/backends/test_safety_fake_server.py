"""Credentials never leave through errors or redirects: a hostile loopback server echoes every request header
back in its error bodies and redirects to another port; no secret (nor its base64 form) reaches str/repr/traceback."""

from __future__ import annotations

import base64
import json
import traceback

import pytest

import obsnb as ob
from fake_server import FakeServer, Response
from fakes_logs import LokiFake

T0 = 1704067200 * 10**9
S = 10**9
TOKEN = "tok-echo-9f8e7d"
KEY = "key-echo-abc123"
CUSTOM = "cust-echo-5a5a5a"
PASSWORD = "pw-echo-77x"


def forms(*secrets: str) -> list[str]:
    """The secrets and their base64 forms (basic auth travels as base64 of user:password)."""
    out = []
    for s in secrets:
        out += [s, base64.b64encode(s.encode()).decode()]
    return out + [base64.b64encode(f"reader:{PASSWORD}".encode()).decode()]


def everything_shown(exc: BaseException) -> str:
    """str, repr, attributes and the whole printed traceback (chained exceptions included) of an error."""
    attrs = " ".join(repr(getattr(exc, a, "")) for a in ("url", "query", "backend_message", "source"))
    return "\n".join([str(exc), repr(exc), attrs, "".join(traceback.format_exception(exc))])


def echo(status: int, shape: str):
    """A handler answering ``status`` with a body that repeats the request's headers (as some proxies do)."""
    def handler(req):
        headers = dict(req.headers)
        if shape == "json":
            return Response.json({"status": "error", "errorType": "bad_data",
                                  "error": f"rejected request with headers {json.dumps(headers)}"}, status)
        if shape == "es":
            return Response.json({"error": {"type": "security_exception", "reason": f"request {headers}",
                                            "root_cause": [{"type": "x", "reason": str(headers)}]}}, status)
        return Response.text("\n".join(f"{k}: {v}" for k, v in headers.items()), status)
    return handler


@pytest.fixture()
def toml(tmp_path, monkeypatch):
    """Write an obsnb.toml naming ``url`` with a token, a headers_env key, a custom auth header and basic auth."""
    def make(url: str, basic: bool = False) -> None:
        cfg = tmp_path / "obsnb.toml"
        auth = 'username = "reader"\npassword_env = "OBSNB_T_PW"\n' if basic else 'token_env = "OBSNB_T_TOKEN"\n'
        cfg.write_text(f'[sources.s]\nurl = "{url}"\n{auth}'
                       'headers_env = { "X-Api-Key" = "OBSNB_T_KEY", "X-Custom-Auth" = "OBSNB_T_CUSTOM" }\n'
                       'headers = { "X-Scope-OrgID" = "team-a" }\n')
        monkeypatch.setenv("OBSNB_CONFIG", str(cfg))
    for var, value in (("OBSNB_T_TOKEN", TOKEN), ("OBSNB_T_KEY", KEY), ("OBSNB_T_CUSTOM", CUSTOM),
                       ("OBSNB_T_PW", PASSWORD)):
        monkeypatch.setenv(var, value)
    return make


@pytest.mark.parametrize("status", [400, 401, 500])
@pytest.mark.parametrize("scheme, shape", [("prometheus", "json"), ("loki", "text"), ("elasticsearch", "es")])
@pytest.mark.parametrize("basic", [False, True])
def test_error_bodies_that_echo_headers_show_no_credential(toml, status, scheme, shape, basic):
    """A 400/401/500 whose body repeats Authorization, X-Api-Key and a custom auth header: the error still
    carries the backend's words but none of the values, nor basic auth's base64 form."""
    with FakeServer(echo(status, shape)) as srv:
        toml(f"{scheme}://{srv.hostport}", basic=basic)
        with pytest.raises(ob.BackendError) as info:
            ob.load("s", query='{app="x"}' if scheme == "loki" else "up", start=T0, end=T0 + 60 * S,
                    retries=0, backoff=0.01, progress=False)
        sent = srv.requests[0].headers
    assert sent["X-Api-Key"] == KEY and sent["X-Custom-Auth"] == CUSTOM  # they were really sent and echoed
    shown = everything_shown(info.value)
    assert [f for f in forms(TOKEN, KEY, CUSTOM, PASSWORD) if f in shown] == []
    assert "team-a" in shown and ("X-Api-Key" in shown or "x-api-key" in shown.lower())


def test_refused_connection_chain_shows_no_query_key():
    """Nobody listening at a URL with ?api_key=...: no part of the printed traceback holds the key."""
    from fake_server import FakeServer as _FS

    with _FS(lambda r: Response.text("")) as srv:
        port = srv.port
    url = f"prometheus://u:{PASSWORD}@127.0.0.1:{port}/?api_key={KEY}&token={TOKEN}"
    with pytest.raises(ob.BackendUnavailableError) as info:
        ob.load(url, query="up", start=T0, end=T0 + 60, retries=0, backoff=0.01)
    shown = everything_shown(info.value)
    assert "connection refused" in shown
    assert [f for f in forms(TOKEN, KEY, PASSWORD) if f in shown] == []
    assert info.value.__cause__ is not None and "api_key=REDACTED" in str(info.value.__cause__)


def redirector(target: str):
    """Answer every request with a 307 to the same path and query on ``target``."""
    def handler(req):
        from urllib.parse import urlencode

        return Response(307, b"", {"Location": f"{target}{req.path}?{urlencode(req.params)}"})
    return handler


@pytest.mark.parametrize("scheme", ["prometheus", "loki", "elasticsearch"])
def test_custom_headers_do_not_follow_a_redirect_to_another_port(toml, scheme):
    """A redirect to another port gets none of Authorization, headers_env values or the custom headers."""
    with FakeServer(echo(404, "text")) as other, FakeServer(redirector(other.url)) as first:
        toml(f"{scheme}://{first.hostport}")
        with pytest.raises(ob.BackendError):
            ob.load("s", query='{app="x"}' if scheme == "loki" else "up", start=T0, end=T0 + 60 * S, retries=0,
                    progress=False)
        assert first.requests and first.requests[0].headers["X-Api-Key"] == KEY
        assert other.requests, "the redirect was followed"
        for r in other.requests:
            low = {k.lower() for k in r.headers}
            assert not low & {"authorization", "x-api-key", "x-custom-auth", "x-scope-orgid"}, r.headers


def test_same_origin_redirect_keeps_the_headers(toml):
    """A redirect within the same host and port still carries the credentials (the load succeeds)."""
    def handler(req):
        if req.path.startswith("/old"):
            return Response(307, b"", {"Location": "/loki/api/v1/query_range?" +
                                       "&".join(f"{k}={v}" for k, v in req.params.items())})
        if req.headers.get("X-Api-Key") != KEY or req.headers.get("Authorization") != f"Bearer {TOKEN}":
            return Response.text("authentication required", 401)
        return fake(req)

    fake = LokiFake([({"app": "x"}, T0 + i * S, json.dumps({"msg": f"e{i}"}), {}) for i in range(3)])
    with FakeServer(handler) as srv:
        from obsnb.sources import _http

        client = _http.HttpClient(srv.url, source="s", headers={"X-Api-Key": KEY, "Authorization": f"Bearer {TOKEN}"},
                                  secret_headers=["X-Api-Key"], retries=0)
        obj = client.get_json("/old", params={"query": '{app="x"}', "start": str(T0), "end": str(T0 + 10 * S),
                                              "limit": "10", "direction": "forward"})
    assert obj["status"] == "success" and len(obj["data"]["result"][0]["values"]) == 3

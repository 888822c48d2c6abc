"""Named sources from obsnb.toml, credentials kept out of everything shown, and evidence snapshots (fake Loki)."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

import obsnb as ob
from fake_server import FakeServer, Response
from fakes_logs import LokiFake
from obsnb.sources.backend import resolve
from obsnb.sources.snapshots import read_snapshot

T0 = 1704067200 * 10**9
S = 10**9
TOKEN = "tok-9f8e7d-SECRET"
KEY = "key-abc123-SECRET"


def entries(n=50):
    return [({"app": "api"}, T0 + i * S, json.dumps({"msg": f"event {i}", "level": "info"}), {}) for i in range(n)]


class AuthLoki(LokiFake):
    """Answers only requests carrying the bearer token and the API key header."""

    def __call__(self, req):
        if req.headers.get("Authorization") != f"Bearer {TOKEN}" or req.headers.get("X-Api-Key") != KEY:
            return Response.text("authentication required", 401)
        return super().__call__(req)


@pytest.fixture()
def named(tmp_path, monkeypatch):
    """A running fake Loki and an obsnb.toml naming it 'prod-loki' with credentials from the environment."""
    with FakeServer(AuthLoki(entries())) as srv:
        cfg = tmp_path / "obsnb.toml"
        cfg.write_text(f'''
[sources.prod-loki]
url = "loki://{srv.hostport}"
token_env = "OBSNB_TEST_TOKEN"
headers_env = {{ "X-Api-Key" = "OBSNB_TEST_KEY" }}
headers = {{ "X-Scope-OrgID" = "team-a" }}
limit = 20
''')
        monkeypatch.setenv("OBSNB_TEST_TOKEN", TOKEN)
        monkeypatch.setenv("OBSNB_TEST_KEY", KEY)
        monkeypatch.setenv("OBSNB_CONFIG", str(cfg))
        yield srv, tmp_path
    ob.snapshot(None)


def test_named_source_fake_server_sends_credentials_from_env(named):
    """ob.load('prod-loki') reads URL, headers and options from obsnb.toml and the token from the environment."""
    srv, _ = named
    df = ob.load("prod-loki", query='{app="api"}', start=T0, end=T0 + 50 * S, progress=False)
    assert len(df) == 50
    assert {r.headers["Authorization"] for r in srv.requests} == {f"Bearer {TOKEN}"}
    assert {r.headers["X-Scope-OrgID"] for r in srv.requests} == {"team-a"}
    assert [r.params["limit"] for r in srv.requests] == ["20", "20", "20"]  # option from obsnb.toml
    assert df["_source"].iloc[0] == f'prod-loki: loki://{srv.hostport} {{app="api"}}'


def test_named_source_fake_server_secrets_absent_from_errors_warnings_repr(named):
    """The token and key appear in no error message, warning, load_info, or repr of the request."""
    srv, _ = named
    with pytest.raises(ob.QueryError) as ei:
        ob.load("prod-loki", query='{app="api"} !! x', start=T0, end=T0 + S)
    with pytest.warns(ob.TruncatedResultWarning) as rec:
        df = ob.load("prod-loki", query='{app="api"}', start=T0, end=T0 + 50 * S, max_lines=20, progress=False)
    req, _ = resolve("prod-loki", kind=None, query="q", start_ns=None, end_ns=None, options={})
    shown = [str(ei.value), repr(ei.value.__dict__), *(str(w.message) for w in rec), repr(ob.load_info(df)), repr(req)]
    for text in shown:
        assert TOKEN not in text and KEY not in text
    assert req.headers["Authorization"] == f"Bearer {TOKEN}"  # still usable
    assert "Authorization" not in repr(req) and "X-Api-Key" not in repr(req)  # headers are left out of repr


def test_named_source_fake_server_missing_env_var_names_the_variable(named, monkeypatch):
    """An unset token variable raises UsageError naming the variable and the config file, before any request."""
    srv, tmp = named
    monkeypatch.delenv("OBSNB_TEST_TOKEN")
    with pytest.raises(ob.UsageError, match=r"environment variable OBSNB_TEST_TOKEN \(token_env in .*obsnb.toml\) is not set"):
        ob.load("prod-loki", query='{app="api"}', start=T0, end=T0 + S)
    assert srv.requests == []


def test_config_refuses_a_credential_written_in_the_file(tmp_path, monkeypatch):
    """token = '...' in obsnb.toml is refused: the file must name an environment variable instead."""
    cfg = tmp_path / "obsnb.toml"
    cfg.write_text('[sources.x]\nurl = "loki://h:1"\ntoken = "abc"\n')
    monkeypatch.setenv("OBSNB_CONFIG", str(cfg))
    with pytest.raises(ob.UsageError, match="name an environment variable instead"):
        ob.load("x", query="{a=\"b\"}")


def test_config_found_in_the_working_directory_only(tmp_path, monkeypatch):
    """Without option or $OBSNB_CONFIG, obsnb.toml is found in the working directory, never in a parent
    (issue 10: a file above the working folder could send the credentials it names anywhere)."""
    from obsnb import config

    (tmp_path / "obsnb.toml").write_text('[sources.prom]\nurl = "prometheus://h:9090"\nstep = "30s"\n')
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    monkeypatch.delenv("OBSNB_CONFIG", raising=False)
    monkeypatch.chdir(sub)
    assert not config.has_source("prom")
    monkeypatch.chdir(tmp_path)
    assert config.has_source("prom") and not config.has_source("nope")
    assert config.get_source("prom").options == {"step": "30s"}
    with pytest.raises(ob.UsageError, match="no source named 'nope' .* known: prom"):
        config.get_source("nope")


def test_snapshot_fake_server_rerun_reads_evidence_after_backend_is_gone(named):
    """A snapshot keeps the frame with its provenance; a re-run reads it with the backend down; refresh refetches."""
    srv, tmp = named
    ev = tmp / "evidence"
    first = ob.load("prod-loki", query='{app="api"}', start=T0, end=T0 + 30 * S, snapshot=str(ev), progress=False)
    files = list(ev.glob("*.parquet"))
    assert len(files) == 1 and files[0].name.startswith("prod-loki-auto-")
    assert (files[0].stat().st_mode & 0o777, ev.stat().st_mode & 0o777) == (0o600, 0o700)  # the owner's only
    meta = read_snapshot(files[0])
    assert meta["source"] == f'prod-loki: loki://{srv.hostport} {{app="api"}}'
    assert (meta["query"], meta["kind"], meta["rows"]) == ('{app="api"}', "logs", "30")
    assert (meta["start"], meta["end"]) == ("2024-01-01T00:00:00.000000000Z", "2024-01-01T00:00:30.000000000Z")
    assert meta["version"] == ob.__version__ and meta["fetched_at"].endswith("Z")
    raw = files[0].read_bytes()
    assert TOKEN.encode() not in raw and KEY.encode() not in raw
    srv.__exit__(None, None, None)  # the backend's retention deleted everything
    again = ob.load("prod-loki", query='{app="api"}', start=T0, end=T0 + 30 * S, snapshot=str(ev))
    pd.testing.assert_frame_equal(first, again)
    assert any("read from snapshot" in w for w in ob.load_info(again).warnings)
    with pytest.raises(ob.BackendUnavailableError):
        ob.load("prod-loki", query='{app="api"}', start=T0, end=T0 + 30 * S, snapshot=str(ev), refresh=True,
                retries=0)


def test_snapshot_fake_server_session_folder_and_partial_flag(named):
    """ob.snapshot(folder) applies to every load; a partial result is re-read with its TruncatedResultWarning."""
    srv, tmp = named
    folder = ob.snapshot(tmp / "ev2")
    with pytest.warns(ob.TruncatedResultWarning):
        ob.load("prod-loki", query='{app="api"}', start=T0, end=T0 + 50 * S, max_lines=20, progress=False)
    (path,) = folder.glob("*.parquet")
    assert "stopped at max_lines=20" in read_snapshot(path)["partial"]
    n = len(srv.requests)
    with pytest.warns(ob.TruncatedResultWarning, match="holds a PARTIAL result"):
        df = ob.load("prod-loki", query='{app="api"}', start=T0, end=T0 + 50 * S, max_lines=20)
    assert len(df) == 20 and len(srv.requests) == n
    off = ob.load("prod-loki", query='{app="api"}', start=T0, end=T0 + 5 * S, snapshot=False)
    assert len(off) == 5 and len(list(folder.glob("*.parquet"))) == 1


def test_snapshot_name_with_another_query_is_refused(named):
    """snapshot_name pins a file to its query: another query under the same name raises UsageError."""
    srv, tmp = named
    ob.load("prod-loki", query='{app="api"}', start=T0, end=T0 + 5 * S, snapshot=str(tmp), snapshot_name="api")
    assert pq.read_table(tmp / "api.parquet").num_rows == 5
    with pytest.raises(ob.UsageError, match="refresh=True"):
        ob.load("prod-loki", query='{app="web"}', start=T0, end=T0 + 5 * S, snapshot=str(tmp), snapshot_name="api")


def test_config_tls_and_basic_auth_reach_the_session(tmp_path, monkeypatch):
    """ca_cert/client_cert (relative to obsnb.toml) and username + password_env configure the HTTP session."""
    from obsnb.sources._http import make_client

    cfg = tmp_path / "obsnb.toml"
    cfg.write_text('[sources.es]\nurl = "https://es.internal:9200/logs-*"\ntype = "elasticsearch"\n'
                   'ca_cert = "certs/ca.pem"\nclient_cert = "certs/me.pem"\nclient_key = "certs/me.key"\n'
                   'username = "reader"\npassword_env = "OBSNB_TEST_ES_PW"\n')
    monkeypatch.setenv("OBSNB_CONFIG", str(cfg))
    monkeypatch.setenv("OBSNB_TEST_ES_PW", "pw-SECRET")
    req, backend = resolve("es", kind=None, query="*", start_ns=None, end_ns=None, options={})
    client = make_client(req)
    assert backend.__name__ == "Elasticsearch" and req.safe_url == "elasticsearch+https://es.internal:9200/logs-*"
    assert client.session.verify == str(tmp_path / "certs" / "ca.pem")
    assert client.session.cert == (str(tmp_path / "certs" / "me.pem"), str(tmp_path / "certs" / "me.key"))
    assert client.session.auth == ("reader", "pw-SECRET")
    assert "pw-SECRET" not in repr(req) and "pw-SECRET" not in repr(client)

"""Snapshot identity: tenant, URL, headers, credentials and options each make a different snapshot; secrets
enter it only as keyed hashes and never reach a file; a taken snapshot_name is an error (fake Loki)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import urllib.parse

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import obsnb as ob
from fake_server import FakeServer, Response
from fakes_logs import LokiFake
from obsnb.keyed import key_path
from obsnb.safe_text import secret_forms
from obsnb.sources import snapshots
from obsnb.sources.backend import Secret, _SecretHeaders, _SecretUrl, resolve
from obsnb.sources.base import BackendRequest, ReadContext
from obsnb.sources.snapshots import identity, read_snapshot, snapshot_key

T0 = 1704067200 * 10**9
S = 10**9
TOKEN = "tok-77aa-PLANTED-SECRET"
KEY = "key-55bb-PLANTED-SECRET"
URL_PW = "urlpw-PLANTED-SECRET"
QUERY_SECRET = "qs-PLANTED-SECRET"


def rows_for(tenant: str, n: int):
    return [({"app": "api"}, T0 + i * S, json.dumps({"msg": f"{tenant} event {i}", "level": "info"}), {}) for i in range(n)]


class TenantLoki:
    """Loki with one store per X-Scope-OrgID: tenant a holds 10 lines, tenant b 3."""

    def __init__(self):
        self.stores = {"a": LokiFake(rows_for("a", 10)), "b": LokiFake(rows_for("b", 3))}

    def __call__(self, req):
        store = self.stores.get(req.headers.get("X-Scope-OrgID", ""))
        return store(req) if store else Response.text("no org id", 401)


@pytest.fixture(autouse=True)
def private_home(tmp_path, monkeypatch):
    """A fresh user key (in tmp) and no session snapshot folder, per test."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home-config"))
    snapshots._WARNED_OLD.clear()
    yield
    ob.snapshot(None)


@pytest.fixture()
def tenants(tmp_path, monkeypatch):
    with FakeServer(TenantLoki()) as srv:
        cfg = tmp_path / "obsnb.toml"
        cfg.write_text(f'''
[sources.tenant-a]
url = "loki://{srv.hostport}"
headers = {{ "X-Scope-OrgID" = "a" }}
[sources.tenant-b]
url = "loki://{srv.hostport}"
headers = {{ "X-Scope-OrgID" = "b" }}
[sources.secret-b]
url = "loki://{srv.hostport}"
token_env = "OBSNB_TEST_TOKEN"
headers_env = {{ "X-Scope-OrgID" = "OBSNB_TEST_ORG" }}
''')
        monkeypatch.setenv("OBSNB_CONFIG", str(cfg))
        monkeypatch.setenv("OBSNB_TEST_TOKEN", TOKEN)
        monkeypatch.setenv("OBSNB_TEST_ORG", "b")
        yield srv, tmp_path


def load(source, tmp, **kw):
    return ob.load(source, query='{app="api"}', start=T0, end=T0 + 60 * S, snapshot=str(tmp / "ev"), progress=False,
                   **kw)


def test_tenants_of_one_backend_get_their_own_snapshots(tenants):
    """Tenant b is never served tenant a's snapshot; both re-read their own after the backend is gone."""
    srv, tmp = tenants
    a = load("tenant-a", tmp)
    b = load("tenant-b", tmp)
    adhoc = load(f"loki://{srv.hostport}", tmp, headers={"X-Scope-OrgID": "b"})
    assert (len(a), len(b), len(adhoc)) == (10, 3, 3)
    assert len(list((tmp / "ev").glob("*.parquet"))) == 3
    srv.__exit__(None, None, None)
    again_a, again_b = load("tenant-a", tmp), load("tenant-b", tmp)
    assert (len(again_a), len(again_b)) == (10, 3)
    assert set(again_b["event"]) == {f"b event {i}" for i in range(3)}


def test_named_source_pointing_elsewhere_is_a_different_snapshot(tmp_path, monkeypatch):
    """The same name with another URL (staging, then production) fetches again instead of serving staging."""
    with FakeServer(LokiFake(rows_for("staging", 4))) as staging, FakeServer(LokiFake(rows_for("prod", 7))) as prod:
        cfg = tmp_path / "obsnb.toml"
        monkeypatch.setenv("OBSNB_CONFIG", str(cfg))
        cfg.write_text(f'[sources.logs]\nurl = "loki://{staging.hostport}"\n')
        assert len(load("logs", tmp_path)) == 4
        cfg.write_text(f'[sources.logs]\nurl = "loki://{prod.hostport}"\n')
        os.utime(cfg, (1, 1))  # a new mtime even within the same second, so the config is re-read
        df = load("logs", tmp_path)
    assert len(df) == 7 and set(df["event"]) == {f"prod event {i}" for i in range(7)}


def test_planted_secrets_reach_no_file_and_enter_identity_as_hmac(tenants):
    """Token, headers_env value, URL password and secret query value: in no file written, in no form
    (as is, base64, URL-quoted); the identity holds HMAC-SHA256 under the user's key instead."""
    srv, tmp = tenants
    df = load("secret-b", tmp)
    assert len(df) == 3
    req, _ = resolve(f"loki://reader:{URL_PW}@{srv.hostport}/?api_key={QUERY_SECRET}", kind="logs", query="q",
                     start_ns=T0, end_ns=T0 + S, options={"snapshot": str(tmp / "ev"),
                                                          "headers": {"Authorization": f"Bearer {TOKEN}"}})
    path = snapshots.snapshot_path(req)
    snapshots.write_snapshot(path, [], req, "label", ReadContext(kind="logs"))
    forms = secret_forms([TOKEN, KEY, URL_PW, QUERY_SECRET, ("reader", URL_PW)])
    written = [p for p in tmp.rglob("*") if p.is_file() and p.name != "obsnb.toml"]
    assert len([p for p in written if p.suffix == ".parquet"]) == 2
    for p in written:
        data = p.read_bytes()
        for form in forms:
            assert form.encode() not in data, (p, form)
    key = bytes.fromhex(key_path().read_text().strip())
    ident = json.loads(read_snapshot(path)["identity"])

    def expected(value):
        mac = hmac.new(key, b"obsnb.snapshot\0" + json.dumps(value).encode(), hashlib.sha256).hexdigest()[:32]
        return "hmac:" + mac

    assert ident["user"] == expected(f"reader:{URL_PW}")
    assert ident["params"] == [["api_key", expected(QUERY_SECRET)]]
    assert ident["headers"] == [["authorization", expected(f"Bearer {TOKEN}")]]
    (named,) = [p for p in (tmp / "ev").glob("secret-b-*.parquet")]
    named_ident = json.loads(read_snapshot(named)["identity"])
    assert dict(map(tuple, named_ident["headers"])) == {"authorization": expected(f"Bearer {TOKEN}"),
                                                         "x-scope-orgid": expected("b")}  # headers_env: hidden


def test_snapshot_and_key_files_are_private(tenants):
    """Snapshots 0600 in a 0700 folder; the user key 0600 in a 0700 folder, created on first use (a secret)."""
    _, tmp = tenants
    assert not key_path().exists()
    load("secret-b", tmp)
    (path,) = (tmp / "ev").glob("*.parquet")
    key = key_path()
    modes = [p.stat().st_mode & 0o777 for p in (path, path.parent, key, key.parent)]
    assert modes == [0o600, 0o700, 0o600, 0o700]
    assert len(bytes.fromhex(key.read_text().strip())) == 32


def test_key_file_others_can_read_is_refused(tenants):
    _, tmp = tenants
    load("secret-b", tmp)
    from obsnb import keyed

    keyed._CACHE.clear()
    key_path().chmod(0o644)
    with pytest.raises(ob.ObsnbError, match="other users can read or write it"):
        load("secret-b", tmp, limit=7)


def test_taken_snapshot_name_is_an_error_naming_what_differs(tenants):
    """snapshot_name='api' holds tenant a's answer: tenant b under that name is refused, refresh=True too."""
    srv, tmp = tenants
    load("tenant-a", tmp, snapshot_name="api")
    before = (tmp / "ev" / "api.parquet").read_bytes()
    for extra in ({}, {"refresh": True}):
        with pytest.raises(ob.UsageError) as ei:
            load("tenant-b", tmp, snapshot_name="api", **extra)
        assert "'api'" in str(ei.value) and "differs in header x-scope-orgid" in str(ei.value)
    with pytest.raises(ob.UsageError) as ei:
        load("secret-b", tmp, snapshot_name="api")
    assert str(ei.value).count("header authorization") == 1 and TOKEN not in str(ei.value)
    assert "Bearer" not in str(ei.value)
    assert (tmp / "ev" / "api.parquet").read_bytes() == before
    n = len(srv.requests)
    assert len(load("tenant-a", tmp, snapshot_name="api")) == 10 and len(srv.requests) == n  # the same request


def _old_snapshot(path, rows=2):
    """A file as the previous key scheme wrote it (no obsnb.key_scheme, no obsnb.identity)."""
    import pyarrow as pa

    table = pa.table({"time": pa.array([T0] * rows, pa.int64()), "message": ["old"] * rows})
    table = table.replace_schema_metadata({b"obsnb.query": b'{app="api"}', b"obsnb.kind": b"logs"})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def test_old_key_scheme_snapshots_are_ignored_with_one_warning(tenants):
    srv, tmp = tenants
    _old_snapshot(tmp / "ev" / "tenant-a-auto-0123456789ab.parquet")
    _old_snapshot(tmp / "ev" / "api.parquet")
    with pytest.warns(ob.ObsnbWarning, match=r"1 snapshot\(s\) in .* older obsnb") as rec:
        df = load("tenant-a", tmp)
    assert len(df) == 10 and len([w for w in rec if "older obsnb" in str(w.message)]) == 1
    with pytest.warns(ob.ObsnbWarning, match="api.parquet was written by an older obsnb"):
        named = load("tenant-a", tmp, snapshot_name="api")
    assert len(named) == 10 and read_snapshot(tmp / "ev" / "api.parquet")["key_scheme"] == snapshots.KEY_SCHEME


# ---------------------------------------------------------------------------------------------------- property

_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
# A secret is never a word the identity's own structure holds ("cert", "kind", "logs"...), so finding it in the
# text means it leaked, not that it collided with a field name.
_secret = _word.map(lambda w: "sx-" + w)
BASE = {"scheme": "loki", "user": "", "host": "h1", "port": 3100, "path": "/p", "param": ("org", "x"),
        "header": ("X-Scope-OrgID", "t1"), "hidden": ("X-Api-Key", "k1"), "auth": None, "kind": "logs",
        "query": '{app="a"}', "start": T0, "end": T0 + S, "step": None, "limit": None}


def build(f) -> BackendRequest:
    user = f"{f['user']}@" if f["user"] else ""
    url = f"{f['scheme']}://{user}{f['host']}:{f['port']}{f['path']}?{urllib.parse.urlencode([f['param']])}"
    headers = _SecretHeaders({f["header"][0]: f["header"][1], f["hidden"][0]: f["hidden"][1]})
    headers.hidden = frozenset({f["hidden"][0]})
    opts = {k: f[k] for k in ("step", "limit") if f[k] is not None}
    if f["auth"]:
        opts["_auth"] = Secret(("reader", f["auth"]))
    return BackendRequest(url=_SecretUrl(url), safe_url="x", kind=f["kind"], query=f["query"], start_ns=f["start"],
                          end_ns=f["end"], options=opts, headers=headers)


VARY = {
    "scheme": st.sampled_from(["loki+https", "prometheus", "elasticsearch"]),
    "user": _secret, "host": _word.map(lambda w: "h-" + w), "port": st.integers(1, 65535), "path": _word.map("/".__add__),
    "param": st.tuples(_word, _word), "header": st.tuples(_word.map(lambda w: "X-" + w), _word),
    "hidden": st.tuples(st.just("X-Api-Key"), _secret), "auth": _secret, "kind": st.sampled_from(["spans", "metrics"]),
    "query": _word, "start": st.integers(0, T0 - 1), "end": st.integers(T0 + S + 1, 2 * T0), "step": _word,
    "limit": st.integers(1, 10**6),
}


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(VARY)).flatmap(lambda k: st.tuples(st.just(k), VARY[k])))
def test_any_single_field_change_gives_another_key_and_equal_requests_the_same(change):
    field, value = change
    varied = {**BASE, field: value}
    if varied == BASE:
        return
    assert snapshot_key(build(BASE)) == snapshot_key(build(dict(BASE)))
    assert snapshot_key(build(varied)) != snapshot_key(build(BASE)), field
    text = json.dumps(identity(build(varied)))
    for secret in ("k1", value if field in ("hidden", "auth", "user") else None):
        if isinstance(secret, tuple):
            secret = secret[1]
        if secret and len(secret) >= 4:
            assert json.dumps(secret) not in text and base64.b64encode(secret.encode()).decode() not in text

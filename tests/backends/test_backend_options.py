"""A keyword a backend does not read is refused, naming the keywords it takes, before any request is sent.

As for files (registry.FORMAT_OPTIONS), the table of each backend's options (registry.BACKEND_OPTIONS) cannot
rot: the first test reads every backend module (and its push-down compiler) for option reads and compares
them with the table, both ways. The others load from a recording fake server (or an obsnb.toml name) with a
misspelt keyword and check that the error names the keyword and the ones taken, and that no request was made.
"""

from __future__ import annotations

import ast
import inspect
import pathlib

import pytest

import obsnb as ob
import obsnb.sources
from obsnb import registry
from obsnb.errors import UsageError
from obsnb.sources import pushdown

from fake_server import FakeServer, Response

SOURCES = pathlib.Path(obsnb.sources.__file__).parent
HOLDERS = {"o", "opts", "options"}  # the names the backends give a request's options
# options read through a loop variable (``for key, opt in (("minDuration", "min_duration"), ...)``), which an
# AST walk cannot name: each is checked to appear as a literal in its module instead
INDIRECT = {"obsnb.sources.jaeger:Jaeger": {"min_duration", "max_duration"},
            "obsnb.sources.prometheus:Prometheus": {"timeout_param", "dedup", "partial_response", "nocache"}}


def _reads(tree: ast.AST) -> set[str]:
    """The option names read with a literal: ``o.get("x")``, ``o["x"]``, ``"x" in o``, ``req.options.get("x")``."""
    def holder(node):
        return (isinstance(node, ast.Name) and node.id in HOLDERS) or \
            (isinstance(node, ast.Attribute) and node.attr == "options")

    out = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("get", "pop") \
                and holder(n.func.value) and n.args and isinstance(n.args[0], ast.Constant):
            out.add(n.args[0].value)
        elif isinstance(n, ast.Subscript) and holder(n.value) and isinstance(n.slice, ast.Constant):
            out.add(n.slice.value)
        elif isinstance(n, ast.Compare) and isinstance(n.left, ast.Constant) and isinstance(n.ops[0], ast.In) \
                and holder(n.comparators[0]):
            out.add(n.left.value)
    return {x for x in out if isinstance(x, str) and not x.startswith("_")}  # _auth, _cert: set by resolve()


def test_every_option_a_backend_reads_is_declared_for_it_and_nothing_more():
    common = set()
    for mod in ("_http", "backend", "snapshots"):
        common |= _reads(ast.parse((SOURCES / f"{mod}.py").read_text()))
    assert common - {"format"} <= set(registry.BACKEND_COMMON_OPTIONS), common
    by_compiler = {}
    for target, fn in pushdown.COMPILERS.items():
        by_compiler[target] = _reads(ast.parse(inspect.getsource(fn)))
    wrong = {}
    for target in sorted(set(registry.BACKENDS.values())):
        mod, _, _cls = target.partition(":")
        text = (SOURCES / f"{mod.rsplit('.', 1)[1]}.py").read_text()
        found = _reads(ast.parse(text)) | by_compiler.get(target, set()) | INDIRECT.get(target, set())
        assert all(f'"{x}"' in text for x in INDIRECT.get(target, ())), target
        found -= set(registry.BACKEND_COMMON_OPTIONS)
        if found != set(registry.BACKEND_OPTIONS[target]):
            wrong[target] = (sorted(found), sorted(registry.BACKEND_OPTIONS[target]))
    assert not wrong, f"backend: (options its code reads, options declared): {wrong}"


@pytest.fixture
def server():
    with FakeServer(lambda req: Response.text("no such endpoint", status=404)) as srv:
        yield srv


# scheme, load() arguments, the misspelt keyword, the start of the list of keywords it takes
CASES = [
    ("clickhouse", dict(kind="logs"), "tabel", "table, database, limit"),
    ("loki", dict(query='{app="api"}'), "tennant", "step, max_points, tenant, limit, direction"),
    ("elasticsearch", dict(kind="logs"), "time_feild", "index, time_field, page_size"),
    ("opensearch", dict(kind="logs"), "indx", "index, time_field, page_size"),
    ("prometheus", dict(query="up"), "stepp", "step, instant, time, max_points"),
    ("victoriametrics", dict(query="up"), "max_point", "step, instant, time, max_points"),
    ("jaeger", dict(query="api"), "operaton", "api, service, operation, tags"),
    ("tempo", dict(query="{}"), "fulltraces", "limit, spss, full_traces"),
]


@pytest.mark.parametrize("scheme,args,bad,takes", CASES, ids=[c[0] for c in CASES])
def test_fake_server_a_misspelt_backend_keyword_is_refused_before_any_request(server, scheme, args, bad, takes):
    with pytest.raises(UsageError, match=rf"load\(\) got the keyword {bad}, which a {scheme}:// source does not "
                                         rf"take: it takes {takes}.*every backend takes timeout, retries"):
        ob.load(f"{scheme}://{server.hostport}", **args, **{bad: 1})
    assert server.requests == []


def test_fake_server_format_and_cache_are_refused_on_a_backend(server):
    """File-only keywords are not silently ignored by a backend load either."""
    for kw in ({"format": "jsonl"}, {"cache": "/tmp/x"}, {"max_record_bytes": 10}):
        with pytest.raises(UsageError, match=rf"keyword {next(iter(kw))}, which a loki:// source does not take"):
            ob.load(f"loki://{server.hostport}", query='{app="api"}', **kw)
    assert server.requests == []


def test_fake_server_the_helpers_backend_forms_check_keywords_before_planning(server):
    """ob.rate / ob.error_rate / ob.gaps / ob.latency on a backend name the helper, and send nothing (not even
    ClickHouse's DESCRIBE); credentials in the URL are not shown."""
    url = f"clickhouse://user:s3cret@{server.hostport}"
    with pytest.raises(UsageError, match=rf"ob\.rate\('clickhouse://{server.hostport}', \.\.\.\) got the keyword tabel, "
                                         r"which a clickhouse:// source does not take: it takes table, database, limit"):
        ob.rate(url, "1m", kind="logs", tabel="otel_logs")
    with pytest.raises(UsageError, match=r"ob\.error_rate\(.*keywords databse, tabel,") as exc:
        ob.error_rate(url, "1m", kind="spans", tabel="x", databse="y")
    assert "s3cret" not in str(exc.value)
    with pytest.raises(UsageError, match=r"ob\.gaps\(.*keyword index_name, which a elasticsearch:// source"):
        ob.gaps(f"elasticsearch://{server.hostport}", "5m", start=0, end=10**12, index_name="x")
    with pytest.raises(UsageError, match=r"ob\.latency\(.*keyword windw, which a prometheus:// source"):
        ob.latency(f"prometheus://{server.hostport}", "http_request_duration_seconds", windw="5m")
    with pytest.raises(UsageError, match=r"ob\.rate\(.*keyword tenat, which a loki:// source"):
        ob.rate(f"loki://{server.hostport}", "1m", query='{app="api"}', start=0, end=10**11, tenat="a", explain=True)
    assert server.requests == []


def test_fake_server_a_declared_keyword_is_passed_on(server):
    """The check lets through what the backend reads: tenant= reaches Loki as X-Scope-OrgID."""
    with pytest.raises(ob.errors.ObsnbError):
        ob.load(f"loki://{server.hostport}", query='{app="api"}', start=0, end=10**9, tenant="team-a", retries=0)
    assert [r.headers.get("X-Scope-OrgID") for r in server.requests] == ["team-a"]


def test_fake_server_a_misspelt_keyword_in_obsnb_toml_is_refused(server, tmp_path, monkeypatch):
    cfg = tmp_path / "obsnb.toml"
    cfg.write_text(f'[sources.logs]\nurl = "loki://{server.hostport}"\ntenat = "team-a"\n')
    monkeypatch.setenv("OBSNB_CONFIG", str(cfg))
    with pytest.raises(UsageError, match=r"obsnb.toml \[sources.logs\] got the keyword tenat, which a loki:// source "
                                         r"does not take: it takes step, max_points, tenant"):
        ob.load("logs", query='{app="api"}')
    assert server.requests == []


def test_a_backend_registered_without_options_takes_any_keyword_and_one_with_options_is_checked():
    from obsnb.sources.loki import Loki

    class Mine(Loki):
        pass

    class Other:
        pass

    try:
        registry.register_backend("mine", Mine)  # a subclass of a declared backend takes its options
        with pytest.raises(UsageError, match="keyword tenat, which a mine:// source does not take: it takes step"):
            registry.check_backend_options("mine", {"tenat": 1})
        registry.register_backend("other", Other)
        registry.check_backend_options("other", {"anything": 1})
        registry.register_backend("other", Other, options=("db",))
        registry.check_backend_options("other", {"db": 1, "timeout": 3})
        with pytest.raises(UsageError, match="keyword anything, which a other:// source does not take: it takes db,"):
            registry.check_backend_options("other", {"anything": 1})
    finally:
        for scheme, cls in (("mine", Mine), ("other", Other)):
            registry.BACKENDS.pop(scheme, None)
            registry.BACKEND_OPTIONS.pop(f"{cls.__module__}:{cls.__qualname__}", None)


def test_the_helpers_on_a_frame_refuse_backend_keywords():
    """ob.rate / ob.error_rate on a frame used to ignore a keyword they do not take: now it is named."""
    import pandas as pd

    frame = pd.DataFrame({"time": pd.to_datetime([0, 10**9], utc=True), "service": ["a", "b"], "level": ["INFO", "ERROR"]})
    with pytest.raises(UsageError, match=r"ob\.rate on a frame got kind, tabel: those are for the backend form"):
        ob.rate(frame, "1s", kind="logs", tabel="x")
    with pytest.raises(UsageError, match=r"ob\.error_rate on a frame got groups: those are for the backend form"):
        ob.error_rate(frame, "1s", by="service", groups=["a", "c"])
    assert ob.error_rate(frame, "1s")["errors"].tolist() == [0, 1]


def test_fake_server_prometheus_gaps_take_no_groups(server):
    with pytest.raises(UsageError, match="Prometheus-compatible backend takes no groups="):
        ob.gaps(f"prometheus://{server.hostport}", "5m", selector="up", by="job", groups=["a"], start=0, end=10**12)
    assert server.requests == []

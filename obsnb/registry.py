"""Name -> implementation maps for file formats and backends, imported lazily, and format sniffing.

Adding a format or backend is one line here (or a call to :func:`register_format` /
:func:`register_backend` from user code); nothing else dispatches on a closed list.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import MissingDependencyError, UsageError

__all__ = ["FORMATS", "BACKENDS", "FORMAT_OPTIONS", "COMMON_OPTIONS", "BACKEND_OPTIONS", "BACKEND_COMMON_OPTIONS",
           "check_options", "check_backend_options", "register_format", "register_backend", "get_format", "get_backend",
           "sniff", "FormatNotRecognised", "NoTimestamps"]


class FormatNotRecognised(UsageError):
    """No format, or more than one equally, recognises a file (a load of many files rejects that file and goes on)."""


class NoTimestamps(FormatNotRecognised):
    """A file recognised whose records carry no time (a load of many files rejects it like an unrecognised one)."""

# format name -> "module:Class"
FORMATS: dict[str, str] = {
    "jsonl": "obsnb.sources.jsonl:JsonLines",
    "logfmt": "obsnb.sources.logfmt:Logfmt",
    "syslog": "obsnb.sources.syslog:Syslog",
    "log4j": "obsnb.sources.log4j:Log4j",
    "logcat": "obsnb.sources.logcat:Logcat",
    "ras": "obsnb.sources.ras:Ras",
    "klog": "obsnb.sources.klog:Klog",
    "kubernetes_cri": "obsnb.sources.cri:Cri",
    "docker_json": "obsnb.sources.docker:DockerJson",
    "journald_json": "obsnb.sources.journald_json:JournaldJson",
    "logplex": "obsnb.sources.heroku:Heroku",
    "otel_console": "obsnb.sources.otel_console:OtelConsole",
    "web_access": "obsnb.sources.httpd:AccessLog",
    "web_error": "obsnb.sources.httpd:HttpdError",
    "text": "obsnb.sources.plaintext:PlainText",
    "python_basic": "obsnb.sources.plaintext:PythonBasic",
    "regex": "obsnb.sources.plaintext:RegexText",
    "otlp_json": "obsnb.sources.otlp_json:OtlpJson",
    "jaeger_json": "obsnb.sources.jaeger_json:JaegerJson",
    "zipkin_json": "obsnb.sources.zipkin_json:ZipkinJson",
    "prom_text": "obsnb.sources.prom_text:PromText",
    "prom_api": "obsnb.sources.prom_api:PromApiJson",
    "csv": "obsnb.sources.tabular:Csv",
    "parquet": "obsnb.sources.tabular:Parquet",
}

# The keywords of load() that are not its own parameters and that every file load takes.
COMMON_OPTIONS: tuple[str, ...] = ("cache", "max_record_bytes")
LOAD_PARAMETERS = ("kind", "start", "end", "engine", "strict", "format")  # load()'s own, for the error message
_LAYOUT = ("tz", "year", "time_format")  # the line-layout readers (obsnb.sources._layouts): zone, year, strptime
# format -> the reader options it reads. The one place a reader's options are declared: load() refuses a
# keyword that no format of the load takes (check_options); tests/sources/test_options_declared.py walks
# each reader's code and fails when it reads an option this table does not list for it, or lists one it never reads.
FORMAT_OPTIONS: dict[str, tuple[str, ...]] = {
    "jsonl": ("tz", "fields"),
    "logfmt": (),
    "syslog": _LAYOUT,
    "log4j": _LAYOUT,
    "logcat": _LAYOUT,
    "ras": _LAYOUT,
    "klog": _LAYOUT,
    "kubernetes_cri": _LAYOUT,
    "docker_json": (),
    "journald_json": (),
    "logplex": _LAYOUT,
    "otel_console": (),
    "web_access": _LAYOUT,
    "web_error": _LAYOUT,
    "text": _LAYOUT,
    "python_basic": ("time",),
    "regex": ("pattern",) + _LAYOUT,
    "otlp_json": (),
    "jaeger_json": (),
    "zipkin_json": (),
    "prom_text": ("time",),
    "prom_api": (),
    "csv": ("columns", "delimiter", "kind"),
    "parquet": ("columns", "kind"),
}

# URL scheme -> "module:Class"
BACKENDS: dict[str, str] = {
    "prometheus": "obsnb.sources.prometheus:Prometheus",
    "prometheus+https": "obsnb.sources.prometheus:Prometheus",
    "victoriametrics": "obsnb.sources.prometheus:Prometheus",
    "thanos": "obsnb.sources.prometheus:Prometheus",
    "mimir": "obsnb.sources.prometheus:Prometheus",
    "loki": "obsnb.sources.loki:Loki",
    "loki+https": "obsnb.sources.loki:Loki",
    "elasticsearch": "obsnb.sources.elasticsearch:Elasticsearch",
    "elasticsearch+https": "obsnb.sources.elasticsearch:Elasticsearch",
    "opensearch": "obsnb.sources.elasticsearch:Elasticsearch",
    "opensearch+https": "obsnb.sources.elasticsearch:Elasticsearch",
    "jaeger": "obsnb.sources.jaeger:Jaeger",
    "jaeger+https": "obsnb.sources.jaeger:Jaeger",
    "tempo": "obsnb.sources.tempo:Tempo",
    "tempo+https": "obsnb.sources.tempo:Tempo",
    "clickhouse": "obsnb.sources.clickhouse:ClickHouse",
    "clickhouse+https": "obsnb.sources.clickhouse:ClickHouse",
}

# The keywords every backend load takes (read by the shared HTTP client and the snapshots).
BACKEND_COMMON_OPTIONS: tuple[str, ...] = ("timeout", "retries", "backoff", "verify", "headers", "progress",
                                           "snapshot", "snapshot_name", "refresh")
# backend class ("module:Class", as BACKENDS names it) -> the options it reads besides the common ones. As
# FORMAT_OPTIONS for files: load() and the helpers' backend forms refuse any other keyword (check_backend_options);
# tests/backends/test_backend_options.py walks each backend's code and fails when the two disagree.
_CHUNKED = ("partial", "workers")  # the backends that split a load into concurrent requests (obsnb.sources._http)
BACKEND_OPTIONS: dict[str, tuple[str, ...]] = {
    "obsnb.sources.prometheus:Prometheus": ("step", "instant", "time", "max_points", "tenant", "timeout_param", "dedup",
                                            "partial_response", "nocache") + _CHUNKED,
    "obsnb.sources.loki:Loki": ("step", "max_points", "tenant", "limit", "direction", "max_lines", "evaluate_at") + _CHUNKED,
    "obsnb.sources.elasticsearch:Elasticsearch": ("index", "time_field", "page_size", "pit", "max_hits", "fields"),
    "obsnb.sources.jaeger:Jaeger": ("api", "service", "operation", "tags", "min_duration", "max_duration",
                                    "limit") + _CHUNKED,
    "obsnb.sources.tempo:Tempo": ("limit", "spss", "full_traces") + _CHUNKED,
    "obsnb.sources.clickhouse:ClickHouse": ("table", "database", "limit"),
}

_cache: dict[str, Any] = {}


def _load(target: str) -> Any:
    if target not in _cache:
        mod, _, attr = target.partition(":")
        try:
            _cache[target] = getattr(importlib.import_module(mod), attr)
        except ImportError as exc:
            if exc.name and not exc.name.startswith("obsnb"):
                msg = f"{target} needs the package {exc.name!r}: pip install {exc.name}"
                raise MissingDependencyError(msg) from exc
            raise
    return _cache[target]


def register_format(name: str, target: str | type, options: tuple[str, ...] | None = None) -> None:
    """Add or replace a file format: ``register_format("myfmt", "pkg.mod:MyFormat", options=("myopt",))``.

    ``options`` are the keywords its reader takes; without them, a load using it accepts any keyword."""
    _SNIFFED.clear()
    if options is not None:
        FORMAT_OPTIONS[name] = tuple(options)
    else:
        FORMAT_OPTIONS.pop(name, None)
    if isinstance(target, type):
        _cache[f"{target.__module__}:{target.__qualname__}"] = target
        target = f"{target.__module__}:{target.__qualname__}"
    FORMATS[name] = target


def register_backend(scheme: str, target: str | type, options: tuple[str, ...] | None = None) -> None:
    """Add or replace a backend for a URL scheme: ``register_backend("myts", "pkg.mod:MyBackend", options=("db",))``.

    ``options`` are the keywords it reads besides :data:`BACKEND_COMMON_OPTIONS`; without them, a load from it
    accepts any keyword."""
    if isinstance(target, type):
        _cache[f"{target.__module__}:{target.__qualname__}"] = target
        target = f"{target.__module__}:{target.__qualname__}"
    if options is not None:
        BACKEND_OPTIONS[target] = tuple(options)
    BACKENDS[scheme] = target


def check_backend_options(scheme: str, options: dict[str, Any], where: str = "load()") -> None:
    """Refuse a keyword the backend of ``scheme`` does not read (:class:`UsageError` naming those it takes).

    A backend class registered without declared options (:func:`register_backend`) takes any keyword;
    one that subclasses a declared class (a Prometheus flavour) takes that class's. ``where`` says whose
    keywords they are (``load()``, a helper, an obsnb.toml source table)."""
    extra = set(options) - set(BACKEND_COMMON_OPTIONS)
    if not extra:
        return
    cls = get_backend(scheme)
    names = [f"{c.__module__}:{c.__qualname__}" for c in getattr(cls, "__mro__", (cls,))]
    declared = next((BACKEND_OPTIONS[n] for n in names if n in BACKEND_OPTIONS), None)
    if declared is None:
        return
    bad = sorted(extra - set(declared))
    if bad:
        msg = (f"{where} got the keyword{'s' if len(bad) > 1 else ''} {', '.join(bad)}, which a {scheme}:// source "
               f"does not take: it takes {', '.join(declared) or 'no options of its own'}, and every backend takes "
               f"{', '.join(BACKEND_COMMON_OPTIONS)} (besides {', '.join(p for p in LOAD_PARAMETERS if p != 'format')}"
               ", query).")
        raise UsageError(msg)


def get_format(name: str):
    if name not in FORMATS:
        msg = f"unknown format {name!r}; known formats: {', '.join(sorted(FORMATS))}"
        raise UsageError(msg)
    return _load(FORMATS[name])


def get_backend(scheme: str):
    if scheme not in BACKENDS:
        msg = f"unknown source scheme {scheme + '://'!r}; known: {', '.join(s + '://' for s in sorted(BACKENDS))}"
        raise UsageError(msg)
    return _load(BACKENDS[scheme])


_SNIFFED: dict[tuple[str, int, int], str] = {}  # (path, len, hash of head) -> format: check_options sniffs first


def sniff(head: bytes, path: str) -> str:
    """The format of a file from its first bytes; an error listing the candidates when it is not clear."""
    key = (path, len(head), hash(head))
    if key not in _SNIFFED:
        if len(_SNIFFED) > 4096:
            _SNIFFED.clear()
        _SNIFFED[key] = _sniff(head, path)
    return _SNIFFED[key]


def _sniff(head: bytes, path: str) -> str:
    scores = []
    for name in FORMATS:
        try:
            cls = get_format(name)
        except (ImportError, AttributeError):
            continue
        s = cls.sniff(head, path)
        if s > 0:
            scores.append((s, name))
    scores.sort(reverse=True)
    if scores and (len(scores) == 1 or scores[0][0] > scores[1][0]):
        return scores[0][1]
    preview = head[:120].decode("utf-8", errors="backslashreplace").splitlines()[:1]
    start = f" (starts with {preview[0]!r})" if preview else " (empty)"
    if scores:
        cands = [n for _, n in scores]
        msg = (f"cannot tell the format of {path}{start}; it could be {', '.join(cands)}. "
               f"Name it: obsnb.load({path!r}, format={cands[0]!r})")
    else:
        msg = (f"cannot tell the format of {path}{start}: no known format recognises it "
               f"({', '.join(sorted(FORMATS))}). If it is one of them, name it: "
               f"obsnb.load({path!r}, format='jsonl'); for other lines, describe them with a regex: "
               f"obsnb.load({path!r}, format='regex', pattern=r'(?P<time>\\S+) (?P<level>\\w+) (?P<msg>.*)'); "
               f"for another format, see obsnb.register_format")
    raise FormatNotRecognised(msg)


def check_options(files: list[str], fmt: str | None, options: dict[str, Any], head_of) -> None:
    """Refuse a ``load()`` keyword that no format of the load takes (:class:`UsageError` naming what they take).

    The formats are ``fmt``, else each file's sniffed format (a folder of mixed formats takes the union of
    theirs); a file that is empty or not recognised adds none (the load reports it). A format registered
    without declared options accepts any keyword. Costs nothing when every keyword is a common one;
    ``head_of(path)`` gives a file's first bytes (the sniffed format is remembered for the load's own sniff).
    """
    extra = set(options) - set(COMMON_OPTIONS)
    if not extra:
        return
    used: set[str] = set()
    if fmt is not None:
        used.add(fmt)
    else:
        for path in files:
            try:
                head = head_of(path)
                if head.strip():
                    used.add(sniff(head, path))
            except (OSError, FormatNotRecognised):
                continue
    if not used or any(f not in FORMAT_OPTIONS for f in used):
        return
    allowed = set().union(*(FORMAT_OPTIONS[f] for f in used))
    bad = sorted(extra - allowed)
    if bad:
        takes = "; ".join(f"{f} takes {', '.join(FORMAT_OPTIONS[f]) or 'no options of its own'}" for f in sorted(used))
        msg = (f"load() got the keyword{'s' if len(bad) > 1 else ''} {', '.join(bad)}, which no format of this load "
               f"takes: {takes}. Every load takes {', '.join(LOAD_PARAMETERS + COMMON_OPTIONS)}.")
        raise UsageError(msg)

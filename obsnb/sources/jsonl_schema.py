"""JSON lines, schema inference from the head: which fields a file has, their types and object shapes.

The file's first 5,000 lines (up to 4 MiB) are parsed in Python, once per distinct record shape; keys
that first appear later are added as text by :meth:`_Schema.add_keys` or :meth:`_Schema.key_pass`
(see :mod:`obsnb.sources.jsonl_lines`). Also here: the field names that feed the canonical columns
and the SQL spelling of a field path.
"""

from __future__ import annotations

import gc
import json

# Canonical column <- candidate fields, first present wins (flattened names).
TIME_FIELDS = ("time", "ts", "timestamp", "@timestamp", "datetime", "date", "eventTime", "timeUnixNano",
               "time_unix_nano", "observedTimeUnixNano", "Timestamp", "created", "asctime", "t", "@t",
               # epoch numbers named by their unit (the unit is still told by magnitude, as for every epoch field)
               "ts_ms", "timestamp_ms", "epoch_ms", "ts_millis", "timeMillis", "timestampMillis", "epoch", "ts_ns",
               "timestamp_ns", "ts_us")
LEVEL_FIELDS = ("level", "levelname", "log.level", "severity", "severity_text", "severityText", "SeverityText",
                "lvl", "loglevel", "level_name", "@l")
LEVEL_NUM_FIELDS = ("severityNumber", "severity_number", "SeverityNumber")  # OpenTelemetry 1-24
EVENT_FIELDS = ("event", "message", "msg", "body", "Body", "@m", "@mt", "log", "text")
SERVICE_FIELDS = ("service", "service.name", "serviceName", "service_name", "resource.service.name", "svc",
                  "ServiceName", "otelServiceName", "app", "application")
TRACE_FIELDS = ("trace_id", "traceId", "trace.id", "traceID", "TraceId", "otelTraceID", "trace")
SPAN_FIELDS = ("span_id", "spanId", "span.id", "spanID", "SpanId", "otelSpanID")

# every field name that can feed a canonical column; a late one changes those columns, not just adds one
_CANONICAL = frozenset(TIME_FIELDS + LEVEL_FIELDS + LEVEL_NUM_FIELDS + EVENT_FIELDS + SERVICE_FIELDS
                       + TRACE_FIELDS + SPAN_FIELDS)
_BUNYAN = frozenset(("name", "hostname", "pid", "v"))  # together they make "name" the service

_PY_SAMPLE = 5_000  # lines of the head parsed in Python for types and object shapes
# Bounds on a file's shape (hostile input: 50,000 keys, 900 levels of nesting). An object nested deeper than
# MAX_DEPTH levels is kept as its JSON text in the column at that depth; past MAX_COLUMNS flattened columns,
# the remaining top-level keys of every record (each whole) go into one JSON-text column, MORE_FIELDS.
MAX_DEPTH = 20
MAX_COLUMNS = 1_000
MORE_FIELDS = "more_fields"

def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _col(path: tuple[str, ...]) -> str:
    """SQL for the value at ``path`` (a top-level column, then struct fields)."""
    return ".".join(_q(p) for p in path)


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"

def _shape(obj: dict, depth: int = 1) -> tuple:
    """What ``_Schema._walk`` learns from a record: its keys in order, the type of each value, and the
    same for every non-empty object inside it (to ``MAX_DEPTH``)."""
    if depth >= MAX_DEPTH:
        return (tuple(obj), tuple(map(type, obj.values())))
    return (tuple(obj), tuple(map(type, obj.values())),
            tuple(_shape(v, depth + 1) for v in obj.values() if type(v) is dict and v))


def _head_lines(path: str, max_record: int, budget: int = 1 << 22) -> list[bytes]:
    """The first non-blank whole lines of a file (up to ``_PY_SAMPLE`` of them, ``budget`` bytes read, more
    when the first line is longer: a 5 MiB first record is sampled, not cut); a line over ``max_record`` is
    passed over (it is rejected by the reader), read in pieces, never whole."""
    out: list[bytes] = []
    with open(path, "rb") as f:
        buf, skipping, read = b"", False, 0
        while len(out) < _PY_SAMPLE:
            chunk = f.read(budget)
            if not chunk:
                if buf.strip() and not skipping:
                    out.append(buf)  # the last line, without its newline
                break
            read += len(chunk)
            pieces = (buf + chunk).split(b"\n")
            buf = pieces.pop()
            for i, ln in enumerate(pieces):
                if skipping and i == 0:
                    skipping = False  # the end of a line over the cap
                elif ln.strip():
                    out.append(ln)
            if skipping or len(buf) > max_record:
                buf, skipping = b"", True
            if read >= budget and out:
                break
    return [ln for ln in out[:_PY_SAMPLE] if len(ln) <= max_record]


def _json_path(path: tuple[str, ...]) -> str:
    return "$" + "".join("." + json.dumps(p) for p in path)


class _Schema:
    """Every leaf path of a JSON-lines file, typed from a sample of its head (VARCHAR when unsure).

    The head (up to 5,000 lines / 4 MiB) is parsed in Python for types and object shapes. Keys that
    first appear later are added by ``add_keys`` (from the lines ``_late_fields`` looks at) or by
    ``key_pass`` (one DuckDB pass listing every key of the file at every object path).
    """

    def __init__(self, con, path: str, fields: list[str] | None = None, max_record: int = 64 << 20):
        self.paths: dict[tuple[str, ...], str] = {}
        self.kept: list[str] | None = None  # the top-level keys given columns, when the file is too wide (bound())
        self.max_object = max(max_record + 2, 1 << 20)  # DuckDB's bound on a line ("\r\n" included)
        shapes: set = set()
        collecting = gc.isenabled()
        gc.disable()  # thousands of small dicts and tuples, none cyclic: no collection passes over the heap
        try:
            for ln in _head_lines(path, max_record):
                try:
                    obj = json.loads(ln)
                except (ValueError, RecursionError):
                    continue
                if isinstance(obj, dict):
                    shape = _shape(obj)
                    if shape not in shapes:  # most lines repeat a few shapes: walk each shape once
                        shapes.add(shape)
                        self._walk(obj, ())
        finally:
            if collecting:
                gc.enable()
        if fields is not None:
            self._project(fields)

    def object_paths(self) -> list[tuple[str, ...]]:
        return [()] + [p for p, t in self.paths.items() if t == "STRUCT"]

    def key_pass(self, con, path: str) -> list[tuple[str, ...]]:
        """One DuckDB pass listing the keys of every line at every object path; returns the paths it added."""
        objects = self.object_paths()
        jp = "[" + ", ".join(_lit(_json_path(p)) for p in objects) + "]"
        # one parse per line: the keys at every object path, de-duplicated as lists (a file has few shapes)
        shapes = con.execute(
            f"SELECT any_value(ks) FROM (SELECT json_keys(json, {jp}) AS ks FROM read_json_objects({_lit(path)}, "
            f"format='newline_delimited', ignore_errors=true, maximum_object_size={self.max_object})) GROUP BY hash(ks)"
        ).fetchall()
        return self.add_keys(objects, [ks for (ks,) in shapes])

    def add_keys(self, objects, shapes) -> list[tuple[str, ...]]:
        """Add the keys of ``shapes`` (lists of key lists, one per object path) the schema lacks; returns them."""
        added = []
        for ks in shapes:
            for i, keys in enumerate(ks or []):
                for k in keys or []:
                    p = objects[i] + (k,)
                    if p not in self.paths:
                        self.paths[p] = "VARCHAR"  # seen after the sample: kept as text, never dropped
                        added.append(p)
        return added

    def members_sql(self) -> str:
        """SQL: how many members (at every level) the scan saw in a line: known keys with a non-null
        value, and the known objects holding them. (A row that fails this, an object with no known
        member, is a bad row and looked at in Python anyway.)"""
        terms = [f"{_col(p)} IS NOT NULL" for p in self.paths]
        if len(terms) > 100:  # a list, not a sum: 1,000 terms pass DuckDB's expression depth limit
            return f"len(list_filter([{', '.join(terms)}], lambda x: x))"
        # CASE rather than a cast of each test: 0.77x the CPU of this sum on a piece of the big set
        return " + ".join(f"CASE WHEN {t} THEN 1 ELSE 0 END" for t in terms) if terms else "0"

    def _project(self, fields: list[str]) -> None:
        """Keep only the named fields (flattened names) and the canonical ones; no key pass."""
        wanted = {tuple(f.split(".")) for f in fields} | {(f,) for f in fields}
        by_name = {".".join(p): p for p in self.paths}
        keep: dict[tuple[str, ...], str] = {}
        for name in list(fields) + sorted(_CANONICAL):
            p = by_name.get(name)
            if p is None:
                if name not in fields:
                    continue  # a canonical spelling this file does not use
                p = tuple(name.split("."))  # not in the sample: asked for, so read it as text
                self.paths.setdefault(p, "VARCHAR")
            keep[p] = self.paths[p]
            for i in range(1, len(p)):  # the objects that hold it
                keep[p[:i]] = "STRUCT"
        for p, t in self.paths.items():  # children of an object that was asked for by name
            if any(len(p) > len(w) and p[: len(w)] == w for w in wanted):
                keep[p] = t
                for i in range(1, len(p)):
                    keep[p[:i]] = "STRUCT"
        self.paths = keep

    _PY = {str: "VARCHAR", bool: "BOOLEAN", int: "BIGINT", float: "DOUBLE"}

    def too_wide(self) -> bool:
        return len(self.paths) > MAX_COLUMNS

    def bound(self) -> None:
        """Keep the top-level keys (those that feed canonical columns first, then in order of first
        appearance) while their flattened columns fit in ``MAX_COLUMNS``; the others go to ``MORE_FIELDS``."""
        by_top: dict[str, list] = {}
        for p in self.paths:
            by_top.setdefault(p[0], []).append(p)
        order = sorted(by_top, key=lambda k: k not in _CANONICAL)
        kept, n = [], 0
        for k in order:
            if n + len(by_top[k]) <= MAX_COLUMNS - 1:
                kept.append(k)
                n += len(by_top[k])
        keep = set(kept)
        self.paths = {p: t for p, t in self.paths.items() if p[0] in keep}
        self.kept = [k for k in by_top if k in keep]

    def more_sql(self) -> str:
        """SQL over the raw record ``json``: its top-level keys without a column, as one JSON object text."""
        kept = "[" + ", ".join(_lit(k) for k in self.kept or []) + "]"
        entries = "map_entries(json_transform(json, '\"MAP(VARCHAR, JSON)\"'))"  # one parse per record
        return (f"CASE WHEN json_type(json) = 'OBJECT' THEN nullif('{{' || array_to_string(list_transform(list_filter("
                f"{entries}, lambda e: NOT list_contains({kept}, e.key)), lambda e: to_json(e.key) || ':' || "
                f"e.value::VARCHAR), ',') || '}}', '{{}}') END")

    def _walk(self, obj: dict, prefix: tuple[str, ...]) -> None:
        for k, v in obj.items():
            p = prefix + (k,)
            if isinstance(v, dict) and v and len(p) < MAX_DEPTH:
                self.paths[p] = "STRUCT"
                self._walk(v, p)
                continue
            t = self._PY.get(type(v), "VARCHAR") if v is not None else None
            if t == "BIGINT" and not -2**63 <= v < 2**63:
                t = "VARCHAR"  # an integer no int64 holds stays exact, as text
            old = self.paths.get(p)
            if old == "STRUCT" or t is None:
                self.paths.setdefault(p, "VARCHAR")
                if old is None and t is None:
                    self.paths[p] = "NULL"
                continue
            if old in (None, "NULL") or old == t:
                self.paths[p] = t
            elif {old, t} == {"BIGINT", "DOUBLE"}:
                self.paths[p] = "DOUBLE"
            else:
                self.paths[p] = "VARCHAR"

    def _kids(self) -> dict[tuple[str, ...], list[tuple[str, ...]]]:
        kids: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
        for p in self.paths:
            if len(p) > 1:
                kids.setdefault(p[:-1], []).append(p)
        return kids

    def _nested(self, field, struct, leaf: str) -> list[tuple[str, str]]:
        """(name, type) of each top-level path; inside, members as ``field(name, type)`` joined into
        ``struct(members)`` for an object, ``leaf`` for a leaf."""
        kids = self._kids()

        def typ(path):
            if self.paths[path] == "STRUCT" and kids.get(path):
                return struct(", ".join(field(k[-1], typ(k)) for k in kids[path]))
            return leaf

        return [(p[0], typ(p)) for p in self.paths if len(p) == 1]

    def read_columns(self) -> str:
        """The ``columns={...}`` spec: objects as STRUCTs of VARCHAR leaves, every leaf VARCHAR."""
        tops = self._nested(lambda k, t: f"{_q(k)} {t}", lambda m: f"STRUCT({m})", "VARCHAR")
        return "{" + ", ".join(f"{_lit(k)}: {_lit(t)}" for k, t in tops) + "}"

    def transform_spec(self) -> str:
        """The same shape as ``json_transform``'s JSON structure (for a file read as raw records)."""
        field = lambda k, t: f"{json.dumps(k)}: {t}"  # noqa: E731
        return "{" + ", ".join(field(k, t) for k, t in self._nested(field, lambda m: "{" + m + "}", '"VARCHAR"')) + "}"

    def leaves(self) -> list[tuple[tuple[str, ...], str]]:
        parents = self._kids()
        return [(p, t) for p, t in self.paths.items() if not (t == "STRUCT" and p in parents)]

    def structs(self) -> list[tuple[str, ...]]:
        parents = self._kids()
        return [p for p, t in self.paths.items() if t == "STRUCT" and p in parents]

"""ClickHouse over its HTTP interface, reading the OpenTelemetry exporter's ``otel_logs`` / ``otel_traces``.

``ob.load("clickhouse://ch:8123", kind="logs", query="ServiceName = 'api' AND hasToken(Body, 'timeout')", start=t0, end=t1)``

* The table's columns are read first (``DESCRIBE``) and the SELECT names only those there: the current
  exporter's ``otel_logs`` (no ``TimestampTime``, ordered by ``(toStartOfFiveMinutes(Timestamp),
  ServiceName, Timestamp)``, ``EventName``) and the older ones (``TimestampTime`` in the key) both load.
* ``query=`` is a SQL condition; the time range and the condition go into the ``WHERE`` clause (with
  ``TimestampTime`` too where the table has it, so the partition and primary key prune), the server returns
  the selected columns as Arrow (``FORMAT ArrowStream``), and nothing is filtered in Python. A query
  starting with ``SELECT``/``WITH`` is sent as it is (then it owns its time range; columns named like
  the canonical ones are used as such).
* ``table=`` (default ``otel_logs`` / ``otel_traces``), ``database=`` (default the user's), ``limit=``
  (a ``LIMIT``; reaching it gives a :class:`~obsnb.errors.TruncatedResultWarning`).
* Logs: ``level`` from ``SeverityNumber`` (OTel scale) or ``SeverityText``, ``event`` = ``Body``; spans:
  ``kind``/``status`` normalised from ``Server``/``SPAN_KIND_SERVER``, ``Error``/``STATUS_CODE_ERROR``.
  ``LogAttributes``/``SpanAttributes``/``ResourceAttributes`` map keys become columns.
* Credentials: URL userinfo or obsnb.toml ``username`` + ``password_env`` (HTTP basic auth).
* ClickHouse's own error text (``Code: 62. DB::Exception: Syntax error ...``) is raised at once as
  :class:`~obsnb.errors.QueryError`, whatever the HTTP status; only transient codes are retried.
"""

from __future__ import annotations

import re
from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from .. import schema
from ..errors import BackendUnavailableError, UsageError
from . import _http
from .base import Backend, BackendRequest, Part, ReadContext, require_kind

__all__ = ["ClickHouse", "Session", "build_sql", "table_name", "time_conditions"]

NS = 1_000_000_000
# Exception codes worth retrying: timeouts, too many queries, network, memory pressure, keeper.
TRANSIENT = {159, 160, 164, 202, 203, 209, 210, 241, 242, 425, 999}
_CODE = re.compile(r"Code:\s*(\d+)")

# canonical alias -> (exporter column it needs, SQL expression); a column the table lacks is left out
LOGS_COLUMNS = {
    "time": ("Timestamp", "toUnixTimestamp64Nano(Timestamp)"), "severity_text": ("SeverityText", "SeverityText"),
    "severity_number": ("SeverityNumber", "SeverityNumber"), "event": ("Body", "Body"),
    "service": ("ServiceName", "ServiceName"), "trace_id": ("TraceId", "TraceId"), "span_id": ("SpanId", "SpanId"),
    "scope_name": ("ScopeName", "ScopeName"), "event_name": ("EventName", "nullIf(EventName, '')"),
    "log_attributes": ("LogAttributes", "LogAttributes"), "resource_attributes": ("ResourceAttributes", "ResourceAttributes"),
}
SPANS_COLUMNS = {
    "trace_id": ("TraceId", "TraceId"), "span_id": ("SpanId", "SpanId"), "parent_span_id": ("ParentSpanId", "ParentSpanId"),
    "name": ("SpanName", "SpanName"), "service": ("ServiceName", "ServiceName"), "kind": ("SpanKind", "SpanKind"),
    "start": ("Timestamp", "toUnixTimestamp64Nano(Timestamp)"),
    "end": ("Duration", "toUnixTimestamp64Nano(Timestamp) + toInt64(Duration)"),
    "duration_ms": ("Duration", "Duration / 1000000"), "status": ("StatusCode", "StatusCode"),
    "status_message": ("StatusMessage", "StatusMessage"), "scope_name": ("ScopeName", "ScopeName"),
    "span_attributes": ("SpanAttributes", "SpanAttributes"), "resource_attributes": ("ResourceAttributes", "ResourceAttributes"),
}
MAPS = ("log_attributes", "span_attributes", "resource_attributes")
# every column of the exporter's tables, for the callers that build SQL without asking the server
ALL_COLUMNS = frozenset(c for cols in (LOGS_COLUMNS, SPANS_COLUMNS) for c, _ in cols.values()) | {"TimestampTime"}


def _ident(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?", name):
        raise UsageError(f"table must be a plain name like otel_logs or db.otel_logs, got {name!r}")
    return name


def table_name(kind: str, table: str | None) -> str:
    """The exporter's table for ``kind`` (``otel_logs`` / ``otel_traces``) or the one named, checked."""
    return _ident(table or ("otel_logs" if kind == "logs" else "otel_traces"))


def time_conditions(kind: str, columns, start_ns: int | None, end_ns: int | None) -> list[str]:
    """``[start, end)`` on ``Timestamp``, plus ``TimestampTime`` (the older schemas' key) where the table has it."""
    conds, coarse = [], kind == "logs" and "TimestampTime" in columns
    if start_ns is not None:
        conds.append(f"Timestamp >= fromUnixTimestamp64Nano(toInt64({int(start_ns)}))")
        if coarse:
            conds.append(f"TimestampTime >= toDateTime({start_ns // NS})")
    if end_ns is not None:
        conds.append(f"Timestamp < fromUnixTimestamp64Nano(toInt64({int(end_ns)}))")
        if coarse:
            conds.append(f"TimestampTime <= toDateTime({-(-end_ns // NS)})")
    return conds


def build_sql(kind: str, *, table: str | None, where: str | None, start_ns: int | None, end_ns: int | None,
              limit: int | None, columns=ALL_COLUMNS) -> str:
    """The SELECT for ``kind`` over the exporter's table, time range and condition in WHERE, as ArrowStream.

    ``columns`` are the table's columns (from ``DESCRIBE``): only the expressions whose column is
    there are selected, and ``TimestampTime`` prunes only where the table has it (exporter < v0.151).
    """
    table = table_name(kind, table)
    wanted = LOGS_COLUMNS if kind == "logs" else SPANS_COLUMNS
    select = ", ".join(f"{expr} AS {alias}" for alias, (col, expr) in wanted.items() if col in columns)
    conds = time_conditions(kind, columns, start_ns, end_ns)
    if where and where.strip():
        conds.append(f"({where.strip()})")
    sql = f"SELECT {select}\nFROM {table}"
    if conds:
        sql += "\nWHERE " + "\n  AND ".join(conds)
    sql += "\nORDER BY Timestamp"
    if limit is not None:
        sql += f"\nLIMIT {int(limit) + 1}"
    return sql + "\nFORMAT ArrowStream"


def _is_final(resp) -> bool:
    """A ClickHouse exception is final (not retried) unless its code is a transient one."""
    code = resp.headers.get("X-ClickHouse-Exception-Code")
    if code is None:
        m = _CODE.search(resp.text[:200] if resp.content else "")
        code = m.group(1) if m else None
    return code is not None and int(code) not in TRANSIENT


class ClickHouse(Backend):
    """``clickhouse://`` / ``clickhouse+https://`` (HTTP interface, port 8123/8443): logs or spans."""

    schemes = ("clickhouse",)
    kinds = ("logs", "spans")

    def fetch(self, req: BackendRequest, ctx: ReadContext) -> Iterator[Part]:
        o = req.options
        q = req.query.strip() if isinstance(req.query, str) else None
        raw = bool(q) and re.match(r"(?is)^\s*(select|with)\b", q) is not None
        kind = req.kind or ("logs" if (o.get("table") or "otel_logs").endswith("logs") and not raw else None)
        kind = require_kind(kind, self.kinds, f"{req.source_name or req.safe_url} (ClickHouse)")
        limit = o.get("limit")
        with Session(req) as ch:
            if raw:
                sql = q.rstrip("; \n") + ("" if re.search(r"(?i)\bformat\s+\w+\s*$", q) else "\nFORMAT ArrowStream")
            else:
                table = table_name(kind, o.get("table"))
                sql = build_sql(kind, table=table, where=q, start_ns=req.start_ns, end_ns=req.end_ns,
                                limit=int(limit) if limit is not None else None, columns=ch.columns(table))
            table = ch.arrow(sql, shown=req.query)
        if limit is not None and not raw and table.num_rows > int(limit):
            table = table.slice(0, int(limit))
            _http.warn_truncated(ctx, ch.client.source, f"stopped at limit={limit} rows; later rows"
                                 f"{_http.window_text(req.start_ns, req.end_ns)} were not read")
        if table.num_rows:
            yield Part(kind, _canonical(table, kind))


class Session:
    """One HTTP client to one ClickHouse server: ``DESCRIBE`` a table, run SQL, read the Arrow answer.

    The loader and the push-down (:mod:`obsnb.sources.pushdown`) both talk to the server through it, so
    credentials, retries, error mapping and ``database=`` are the same for both.
    """

    def __init__(self, req: BackendRequest):
        self.req = req
        self.client = _http.make_client(req, is_final=_is_final)
        self.params = {"output_format_arrow_string_as_string": "1", "output_format_arrow_low_cardinality_as_dictionary": "0"}
        if req.options.get("database"):
            self.params["database"] = str(req.options["database"])
        self._columns: dict[str, dict[str, str]] = {}

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.client.close()

    def text(self, sql: str, shown=None) -> str:
        return self.client.request("POST", "/", query=shown or sql, params=self.params, data=sql.encode()).text

    def arrow(self, sql: str, shown=None) -> pa.Table:
        resp = self.client.request("POST", "/", query=shown or sql, params=self.params, data=sql.encode())
        return _read_arrow(resp.content, self.client.source, shown or sql)

    def columns(self, table: str) -> dict[str, str]:
        """``{column: type}`` of ``table`` as the server describes it (asked once per session)."""
        if table not in self._columns:
            out = self.text(f"DESCRIBE TABLE {_ident(table)} FORMAT TabSeparated")
            self._columns[table] = dict(line.split("\t")[:2] for line in out.splitlines() if "\t" in line)
        return self._columns[table]


def _read_arrow(data: bytes, source: str, query) -> pa.Table:
    if not data:
        return pa.table({})
    try:
        with pa.ipc.open_stream(data) as reader:
            return reader.read_all()
    except pa.ArrowInvalid as exc:
        msg = f"{source}: the answer is not Arrow (starts {data[:120]!r}); is this a ClickHouse HTTP port?"
        raise BackendUnavailableError(msg, source=source, query=query, backend_message=data[:300].decode("utf-8", "replace")) from exc


def _canonical(t: pa.Table, kind: str) -> pa.Table:
    for i, f in enumerate(t.schema):  # String as binary (older servers ignore the setting)
        if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type):
            t = t.set_column(i, f.name, pc.cast(t.column(i), pa.string()))
    for name in ("trace_id", "span_id", "parent_span_id"):
        if name in t.column_names:  # the exporter writes "" for absent ids
            col = t.column(name)
            t = t.set_column(t.column_names.index(name), name, pc.if_else(pc.equal(col, ""), None, col))
    if kind == "logs" and "severity_text" in t.column_names:
        t = _levels(t)
    if kind == "spans":
        for name, prefix in (("kind", "SPAN_KIND_"), ("status", "STATUS_CODE_")):
            if name in t.column_names:
                col = pc.utf8_upper(t.column(name))
                col = pc.replace_substring_regex(col, f"^{prefix}", "")
                col = pc.if_else(pc.equal(col, "UNSPECIFIED"), None, col) if name == "kind" else col
                t = t.set_column(t.column_names.index(name), name, col)
    for name in MAPS:
        if name in t.column_names:
            t = _flatten_map(t, name)
    return t


def _levels(t: pa.Table) -> pa.Table:
    text = t.column("severity_text")
    by_text, _ = schema.normalize_levels(text.combine_chunks())
    if "severity_number" in t.column_names:
        num = t.column("severity_number").cast(pa.int64()).combine_chunks()
        table = pa.array([schema.level_from_number(n, "otel") if n else None for n in range(25)], pa.string())
        by_num = pc.take(table, pc.min_element_wise(pc.max_element_wise(num, 0), 24))
        level = pc.coalesce(by_num, by_text)
    else:
        level = by_text
    t = t.append_column("level", level)
    original = pc.if_else(pc.equal(pc.utf8_upper(text), level), None, pc.if_else(pc.equal(text, ""), None, text))
    if original.null_count < len(original):
        t = t.append_column("level_original", original)
    return t.drop_columns(["severity_text"])


def _flatten_map(t: pa.Table, name: str) -> pa.Table:
    col = t.column(name).combine_chunks()
    idx = t.column_names.index(name)
    t = t.remove_column(idx)
    if not pa.types.is_map(col.type) or len(col) == 0:
        return t
    keys = pc.unique(col.keys).to_pylist()
    for k in sorted(k for k in keys if k is not None):
        if k in t.column_names:
            continue
        t = t.append_column(k, pc.map_lookup(col, pa.scalar(k, col.type.key_type), "first"))
    return t


# ---------------------------------------------------------------------------------------------- push-down
# The SQL the analysis helpers' ClickHouse forms run (planned by obsnb.sources.pushdown). Each answers the
# helper's frame itself: times as epoch ns (Int64), the by= columns under their canonical names, the counts
# as Int64, so the client only casts the time columns.

# canonical column -> SQL over the exporter's columns, per kind, normalised like the loader normalises it
_KEYS = {
    "spans": {"service": "ServiceName", "name": "SpanName", "status_message": "StatusMessage",
              "kind": "nullIf(replaceRegexpOne(upper(SpanKind), '^SPAN_KIND_', ''), 'UNSPECIFIED')",
              "status": "replaceRegexpOne(upper(StatusCode), '^STATUS_CODE_', '')",
              "trace_id": "nullIf(TraceId, '')", "scope_name": "ScopeName"},
    "logs": {"service": "ServiceName", "event": "Body", "trace_id": "nullIf(TraceId, '')", "scope_name": "ScopeName",
             "event_name": "nullIf(EventName, '')"},
}
_SPAN_ERROR = ("(upper(StatusCode) IN ('ERROR', 'STATUS_CODE_ERROR')"
               " OR toInt64OrZero(SpanAttributes['http.response.status_code']) >= 500"
               " OR toInt64OrZero(SpanAttributes['http.status_code']) >= 500)")


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def key_sql(kind: str, name: str, columns) -> str:
    """The SQL for group column ``name``: a known canonical column, else the attribute of that name (null if absent)."""
    if name in _KEYS[kind]:
        return _KEYS[kind][name]
    maps = [m for m in (("SpanAttributes" if kind == "spans" else "LogAttributes"), "ResourceAttributes") if m in columns]
    expr = "NULL"
    for m in reversed(maps):  # the record's own attributes win over the resource's, as in the loaded frame
        expr = f"if(mapContains({m}, {_quote(name)}), {m}[{_quote(name)}], {expr})"
    return expr


def _source(kind, table, columns, by, start_ns, end_ns, where) -> tuple[str, list[str]]:
    keys = [f"{key_sql(kind, k, columns)} AS `{k}`" for k in by]
    conds = time_conditions(kind, columns, start_ns, end_ns)
    if where and str(where).strip():
        conds.append(f"({str(where).strip()})")
    return f"FROM {table}" + ("\nWHERE " + "\n  AND ".join(conds) if conds else ""), keys


def _bucket(step_ns: int) -> str:
    return f"toUnixTimestamp64Nano(toStartOfInterval(Timestamp, INTERVAL {int(step_ns)} NANOSECOND))"


def _names(by) -> str:
    return "".join(f", `{k}`" for k in by)


def latency_sql(kind, table, columns, *, value, qs, names, by, step_ns, start_ns, end_ns, where, exact=True) -> str:
    """Quantiles per group (and bucket): ``quantilesExactInclusive`` is numpy's linear interpolation."""
    if kind != "spans" or value != "duration_ms":
        raise UsageError(f"ClickHouse computes latency from otel_traces' Duration: pass kind='spans' and "
                         f"value='duration_ms' (got kind={kind!r}, value={value!r})")
    src, keys = _source(kind, table, columns, by, start_ns, end_ns, where)
    fn = "quantilesExactInclusive" if exact else "quantiles"
    head = ([f"{_bucket(step_ns)} AS time"] if step_ns else []) + keys
    group = (["time"] if step_ns else []) + [f"`{k}`" for k in by]
    qcols = ", ".join(f"_q[{i + 1}] AS `{n}`" for i, n in enumerate(names))
    levels = ", ".join(repr(float(q)) for q in qs)
    aggs = ["toInt64(count()) AS count", f"{fn}({levels})(Duration / 1000000) AS _q"]
    inner = (f"SELECT {', '.join(head + aggs)}"
             f"\n{src}" + (f"\nGROUP BY {', '.join(group)}" if group else ""))
    outer = ", ".join(([c for c in group] if group else []) + ["count", qcols, "toInt64(0) AS nan"])
    return f"SELECT {outer}\nFROM ({inner})" + (f"\nORDER BY {', '.join(group)}" if group else "")


def counts_sql(kind, table, columns, *, by, step_ns, start_ns, end_ns, where, errors=None) -> str:
    """Events per bucket and group, empty buckets filled with zeros (``WITH FILL`` within each group).

    ``errors``: also the errors among them, by obsnb's definition for spans (a definition without ``tree``) or a
    caller's (its ``tree``: :func:`error_sql`)."""
    src, keys = _source(kind, table, columns, by, start_ns, end_ns, where)
    step = int(step_ns)
    t = "toUnixTimestamp64Nano(Timestamp)"

    def bound(ns, agg, extra):  # the grid's first / one-past-last bucket: the window's, else the data's
        if ns is not None:
            return str((int(ns) // step) * step + extra)
        return f"assumeNotNull((SELECT intDiv({agg}({t}), {step}) * {step} + {extra} {src}))"

    lo = bound(start_ns, "min", 0)
    hi = str(((int(end_ns) - 1) // step) * step + step) if end_ns is not None else bound(None, "max", step)
    if errors:
        custom = errors.get("tree") if isinstance(errors, dict) else None
        if kind != "spans" and custom is None:
            raise UsageError("ClickHouse computes obsnb's error definition server-side for spans (status ERROR, HTTP "
                             "status >= 500); for logs pass errors= (e.g. {'level': ['ERROR', 'CRITICAL']}) or load "
                             "them and run ob.error_rate on the frame")
        cond = _SPAN_ERROR if custom is None else error_sql(kind, custom, columns)
        aggs = ["toInt64(count()) AS total", f"toInt64(countIf({cond})) AS errors"]
        outer = "total, errors, if(total > 0, errors / total, nan) AS error_rate"
    else:
        aggs = ["toInt64(count()) AS count"]
        outer = f"count, count / {step / 1e9!r} AS per_second"
    by_names = [f"`{k}`" for k in by]
    inner = (f"SELECT {', '.join([f'{_bucket(step)} AS time', *keys, *aggs])}\n{src}\nGROUP BY {', '.join(['time', *by_names])}"
             f"\nORDER BY {', '.join([*by_names, 'time'])} WITH FILL FROM {lo} TO {hi} STEP {step}")
    return f"SELECT time{_names(by)}, {outer}\nFROM ({inner})\nORDER BY time{_names(by)}"


def _level_sql(columns) -> str:
    """The canonical level of an otel_logs row as the loader makes it: ``SeverityNumber`` (OTel scale), else
    ``SeverityText`` by name (any case, ``warn``, ``err`` ...) or pino number; '' for none."""
    text = "''"
    if "SeverityText" in columns:
        t = "trimBoth(SeverityText)"
        names = ", ".join(_quote(k) for k in schema._LEVEL_MAP)
        levels = ", ".join(_quote(v) for v in schema._LEVEL_MAP.values())
        n = f"toInt64OrZero({t})"
        pino = f"multiIf({n} < 30, 'DEBUG', {n} < 40, 'INFO', {n} < 50, 'WARNING', {n} < 60, 'ERROR', 'CRITICAL')"
        text = f"transform(upper({t}), [{names}], [{levels}], if(match({t}, '^[0-9]+$'), {pino}, ''))"
    if "SeverityNumber" not in columns:
        return text
    otel = ", ".join(_quote(schema.level_from_number(n, "otel")) for n in range(1, 25))
    return f"if(SeverityNumber > 0, [{otel}][least(toInt64(SeverityNumber), 24)], {text})"


def _value_sql(kind: str, name: str, columns) -> str:
    if kind == "logs" and name == "level":
        return f"nullIf({_level_sql(columns)}, '')"
    if kind == "spans" and name == "duration_ms":
        return "(Duration / 1000000)"
    return key_sql(kind, name, columns)


def _literal_sql(v) -> str:
    return _quote(v) if isinstance(v, str) else repr(float(v))


def error_sql(kind: str, tree, columns) -> str:
    """A caller's error definition (the tree of :func:`obsnb.analysis.remote.custom_errors`) as a SQL condition.

    Columns are the canonical ones of the loaded frame (``service``, ``level``, ``status``, ``duration_ms`` ...)
    or attributes; text is compared as text, a number with the value read as a number (``accurateCastOrNull``:
    an attribute ``"503"`` is 503, one that is no number is null), and null is never an error, as in memory.
    """
    op = tree[0]
    if op in ("and", "or"):
        parts = [error_sql(kind, t, columns) for t in tree[1]] or ["1"]
        return "(" + f" {op.upper()} ".join(parts) + ")"
    col = _value_sql(kind, tree[1], columns)
    num = f"accurateCastOrNull({col}, 'Float64')"
    if op in ("text", "true"):  # a null column is null either way (never an error), as in polars
        x = f"toString({col})"
        cond = (f"lower({x}) IN ('true', '1')" if op == "true" else
                {"regex": f"match({x}, {_quote(tree[3])})", "literal": f"position({x}, {_quote(tree[3])}) > 0",
                 "prefix": f"startsWith({x}, {_quote(tree[3])})"}[tree[2]])
        return f"ifNull({'NOT ' if tree[-1] else ''}({cond}), 0)"
    if op == "cmp":
        return f"ifNull({num} {tree[2].replace('==', '=')} {float(tree[3])!r}, 0)"
    if op == "not_in":  # pl.col(c) != v, ~pl.col(c).is_in([...]); a null is not an error
        if not tree[2]:
            return f"ifNull(isNotNull({col}), 0)"
        texts = [v for v in tree[2] if isinstance(v, str)]
        nums = [v for v in tree[2] if not isinstance(v, str)]
        parts = ([f"{col} NOT IN ({', '.join(map(_quote, texts))})"] if texts else []) + \
                ([f"{num} NOT IN ({', '.join(_literal_sql(v) for v in nums)})"] if nums else [])
        return f"ifNull(isNotNull({col}) AND {' AND '.join(parts)}, 0)"
    texts = [v for v in tree[2] if isinstance(v, str)]
    nums = [v for v in tree[2] if not isinstance(v, str)]
    parts = ([f"{col} IN ({', '.join(map(_quote, texts))})"] if texts else []) + \
            ([f"{num} IN ({', '.join(_literal_sql(v) for v in nums)})"] if nums else [])
    return f"ifNull({' OR '.join(parts)}, 0)" if parts else "0"


def gaps_sql(kind, table, columns, *, by, threshold_ns, start_ns, end_ns, where, groups=None) -> str:
    """Silences longer than the threshold per group: ``lagInFrame`` over each group's times, plus the edges.

    ``groups``: rows of the ``by`` values (text) that must appear: one with no event in ``[start, end]`` is one
    silence from ``start`` to ``end`` (``arrayJoin`` of the named groups ``NOT IN`` the window's)."""
    cond_end = None if end_ns is None else end_ns + 1  # gaps() keeps events at ``end`` itself: [start, end]
    src, keys = _source(kind, table, columns, by, start_ns, cond_end, where)
    th = int(threshold_ns)
    by_names = [f"`{k}`" for k in by]
    part = "PARTITION BY " + ", ".join(by_names) + " " if by else ""
    ev = f"SELECT {', '.join([*keys, 'toUnixTimestamp64Nano(Timestamp) AS t'])}\n{src}"
    parts = [f"SELECT {''.join(k + ', ' for k in by_names)}prev AS gap_start, t AS gap_end FROM (\n"
             f"SELECT *, lagInFrame(t) OVER w AS prev, row_number() OVER w AS rn FROM ({ev})\n"
             f"WINDOW w AS ({part}ORDER BY t ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW))\n"
             f"WHERE rn > 1 AND t - prev > {th}"]
    grp = f"\nGROUP BY {', '.join(by_names)}" if by else ""
    if start_ns is not None:
        parts.append(f"SELECT {''.join(k + ', ' for k in by_names)}toInt64({int(start_ns)}) AS gap_start, min(t) AS gap_end "
                     f"FROM ({ev}){grp}\nHAVING count() > 0 AND min(t) - {int(start_ns)} > {th}")
    if end_ns is not None:
        parts.append(f"SELECT {''.join(k + ', ' for k in by_names)}max(t) AS gap_start, toInt64({int(end_ns)}) AS gap_end "
                     f"FROM ({ev}){grp}\nHAVING count() > 0 AND {int(end_ns)} - max(t) > {th}")
    if not by and start_ns is not None and end_ns is not None and end_ns - start_ns > th:
        parts.append(f"SELECT toInt64({int(start_ns)}) AS gap_start, toInt64({int(end_ns)}) AS gap_end "
                     f"FROM (SELECT count() AS n FROM ({ev})) WHERE n = 0")
    if groups and by and start_ns is not None and end_ns is not None and end_ns - start_ns > th:
        named = ", ".join("tuple(" + ", ".join(_quote(v) for v in g) + ")" for g in groups)
        cols = ", ".join(f"_g.{i + 1} AS {k}" for i, k in enumerate(by_names))
        mine = ", ".join(f"_g.{i + 1}" for i in range(len(by)))
        parts.append(f"SELECT {cols}, toInt64({int(start_ns)}) AS gap_start, toInt64({int(end_ns)}) AS gap_end "
                     f"FROM (SELECT arrayJoin([{named}]) AS _g)\nWHERE ({mine}) NOT IN (SELECT {', '.join(by_names)} "
                     f"FROM ({ev}))")
    union = "\nUNION ALL\n".join(f"({p})" for p in parts)
    return (f"SELECT {''.join(k + ', ' for k in by_names)}gap_start, gap_end, gap_end - gap_start AS duration\n"
            f"FROM ({union})\nORDER BY {''.join(k + ', ' for k in by_names)}gap_start")

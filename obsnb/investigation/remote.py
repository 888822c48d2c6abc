"""``ob.investigate`` over a ClickHouse source: the aggregate questions answered by the server.

A :class:`Remote` stands for one kind of evidence (``otel_logs`` or ``otel_traces``) in ``[lo, t1)`` (the
window and its baseline) without holding its rows. It offers the detectors two things:

* :meth:`Remote.ask`: one SQL aggregate (counts, per-bucket error counts, the per-dependency call/error/
  latency table, per-entity gap tables, counts per (column, value), a ``LIMIT k`` example), answered as a
  small polars frame. The SQL is built by :mod:`obsnb.investigation.remote_sql` over :meth:`Remote.expr`,
  the canonical columns as SQL expressions over the exporter's columns (normalised as the loader normalises
  them), and :attr:`Remote.err`, obsnb's error definition (:func:`obsnb.analysis.failures.error_expr`) as SQL.
* :meth:`Remote.lazy`: a polars ``LazyFrame`` (``polars.io.plugins.register_io_source``) for the questions no
  aggregate answers (the reading of the vocabulary, stalls, retry storms, new patterns, changes): each time
  polars runs a query on it, only the columns the query reads are pulled (projection push-down), from
  ``[lo, t1)``, with ``_err`` computed by the server, at most :data:`MAX_PULL` rows (more is an error, never a
  cut frame).

Every question asked is recorded (:attr:`Remote.log`: the detector, what was asked, the SQL, the rows and
columns answered): ``looked_at`` says per detector what the server answered and what was pulled, and
``Findings.queries`` holds the SQL, to paste into a ClickHouse client. The source's address is never in it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator

import polars as pl
import pyarrow as pa

from .. import schema
from ..analysis.failures import (FAILURE_WORDS, HTTP_CODE_COLUMNS, HTTP_STATUS_COLUMNS, OUTCOME_COLUMNS,
                                 STATUS_WORD_COLUMNS)
from ..errors import BackendError
from ..sources import clickhouse as ch
from ..sources.backend import label_of, resolve
from .vocabulary import DEPENDENCY_SPAN_COLUMNS

__all__ = ["Remote", "MAX_PULL", "remote_of", "is_clickhouse"]

#: the most rows one pull of :meth:`Remote.lazy` may bring (more is an error naming the detector)
MAX_PULL = 2_000_000
_MAX_EVENT_WORDS = 6
_HTTP_TEXT = r"^\s*(\d{3})(?:\.0+)?\s*$"
_URL_HOST = r"^[a-zA-Z][a-zA-Z0-9+.-]*://(?:[^@/]*@)?([^/:?#]+)"
q = ch._quote


def is_clickhouse(source: str) -> bool:
    """Whether ``source`` (a URL or an obsnb.toml name) is read by the ClickHouse backend (or a subclass of it)."""
    from .. import registry
    from ..sources.backend import scheme_of

    return issubclass(registry.get_backend(scheme_of(source)), ch.ClickHouse)


def remote_of(ctx: Any, kind: str) -> "Remote | None":
    """The :class:`Remote` of ``kind`` in an investigation's context, or None (the evidence is a frame)."""
    return (getattr(ctx, "remote", None) or {}).get(kind)


@dataclasses.dataclass
class Asked:
    detector: str
    what: str
    sql: str
    rows: int
    columns: tuple[str, ...]
    pulled: bool  # rows of the evidence (an example or a fallback pull), not an aggregate


class Remote:
    """One kind of evidence on a ClickHouse server, between ``lo`` and ``t1`` (see the module docs)."""

    def __init__(self, source: str, kind: str, lo: int, t1: int):
        self.kind, self.lo, self.t1 = kind, int(lo), int(t1)
        self.req, _ = resolve(source, kind=kind, query=None, start_ns=lo, end_ns=t1, options={})
        self.table = ch.table_name(kind, self.req.options.get("table"))
        self.label = label_of(self.req)
        self.log: list[Asked] = []
        self.detector = "prepare"
        self.time = "time" if kind == "logs" else "start"
        self.session = ch.Session(self.req)
        self.cols = self.session.columns(self.table)
        self.where = " AND ".join(ch.time_conditions(kind, self.cols, self.lo, self.t1))
        maps = [m for m in (("LogAttributes" if kind == "logs" else "SpanAttributes"), "ResourceAttributes") if m in self.cols]
        original = f"toInt64(countIf({self._original('1')}))" if kind == "logs" and "SeverityText" in self.cols else "0"
        keys = self.ask("the rows, their first and last time, the attribute keys",
                        f"SELECT toInt64(count()) AS n, min(toUnixTimestamp64Nano(Timestamp)) AS lo, "
                        f"max(toUnixTimestamp64Nano(Timestamp)) AS hi, {original} AS level_original"
                        + "".join(f", arraySort(groupUniqArrayArray(mapKeys({m}))) AS `{m}`" for m in maps)
                        + f" FROM {self.table} WHERE {self.where}").row(0, named=True)
        self.rows = int(keys["n"])
        self.first, self.last = (int(keys["lo"]), int(keys["hi"])) if self.rows else (None, None)
        self.attrs: dict[str, str] = {}  # attribute column -> the map it is read from (the loader's first map)
        for m in maps:
            for k in keys[m] or []:
                self.attrs.setdefault(k, m)
        self.has_original = bool(keys["level_original"])
        self.schema = self._schema()
        self.err = self._error_sql()

    # ------------------------------------------------------------------------------------------ columns
    def _schema(self) -> pl.Schema:
        """The canonical frame's columns, as ``ob.load`` of these rows would have them (order and types)."""
        wanted = ch.LOGS_COLUMNS if self.kind == "logs" else ch.SPANS_COLUMNS
        raw = {a: pa.nulls(1, pa.string()) for a, (c, _) in wanted.items() if c in self.cols and a not in ch.MAPS}
        if "severity_number" in raw:
            raw["severity_number"] = pa.nulls(1, pa.uint8())
        for a in ("time", "start", "end"):
            if a in raw:
                raw[a] = pa.nulls(1, pa.int64())
        if "duration_ms" in raw:
            raw["duration_ms"] = pa.nulls(1, pa.float64())
        t = ch._canonical(pa.table(raw), self.kind) if "severity_text" not in raw else \
            pa.table({**{k: v for k, v in raw.items() if k != "severity_text"}, "level": pa.nulls(1, pa.string()),
                      **({"level_original": pa.nulls(1, pa.string())} if self.has_original else {})})
        for k in self.attrs:
            if k not in t.column_names:
                t = t.append_column(k, pa.nulls(1, pa.string()))
        t = schema.conform(t, self.kind)
        return pl.from_arrow(t.slice(0, 0)).schema

    def expr(self, name: str) -> str:
        """The SQL of canonical column ``name`` (an attribute: read from the map the loader reads it from)."""
        ids = {"trace_id": "TraceId", "span_id": "SpanId", "parent_span_id": "ParentSpanId"}
        if name in ids:  # "" and an all-zero id are no id (schema.conform)
            return f"if(match({ids[name]}, '^0*$'), NULL, lower({ids[name]}))"
        if name == "level":
            return f"nullIf({ch._level_sql(self.cols)}, '')"
        if name == "level_original" and self.kind == "logs":
            return self._original("SeverityText")
        if name == self.time:
            return "Timestamp"
        fixed = ch._KEYS[self.kind]
        if name in fixed:
            return fixed[name]
        wanted = ch.LOGS_COLUMNS if self.kind == "logs" else ch.SPANS_COLUMNS
        if name in wanted and name not in ch.MAPS:
            return wanted[name][1]
        if name in self.attrs:
            m = self.attrs[name]
            return f"if(mapContains({m}, {q(name)}), {m}[{q(name)}], NULL)"
        return "NULL"

    def _original(self, then: str) -> str:
        """``level_original`` as the loader keeps it: the text when it is not the level's own name (``warn``)."""
        level = ch._level_sql(self.cols)
        cond = f"SeverityText != '' AND {level} != '' AND upper(SeverityText) != {level}"
        return cond if then == "1" else f"if({cond}, {then}, NULL)"

    def has(self, name: str) -> bool:
        return name in self.schema and self.schema[name] != pl.Null

    def _code_sql(self, name: str) -> str:
        """A column read as an HTTP code (a number as is, text only when it is a 3-digit code)."""
        if self.schema[name].is_numeric():
            return f"toFloat64({self.expr(name)})"
        return f"toFloat64(toInt64OrNull(extract(toString({self.expr(name)}), {q(_HTTP_TEXT)})))"

    def _failure_word(self, name: str) -> str:
        x = f"toString({self.expr(name)})"
        return f"ifNull(match({x}, {q(FAILURE_WORDS)}) AND countMatches({x}, '\\\\s+') < {_MAX_EVENT_WORDS}, 0)"

    def _error_sql(self, event: str = "event", failed: tuple[str, ...] = ()) -> str:
        """:func:`obsnb.analysis.failures.error_expr` as SQL (its data-dependent parts decided by the server)."""
        ge500 = lambda c: f"ifNull({self._code_sql(c)} >= 500 AND {self._code_sql(c)} < 600, 0)"  # noqa: E731
        if self.kind == "spans":
            parts = [f"{ch._KEYS['spans']['status']} = 'ERROR'"]
            parts += [ge500(c) for c in ("http.response.status_code", "http.status_code") if self.has(c)]
            return "(" + " OR ".join(parts) + ")"
        parts = [f"ifNull({self.expr('level')} IN ('ERROR', 'CRITICAL'), 0)"] if self.has("level") else []
        parts += [f"ifNull(lower(toString({self.expr(c)})) = 'failure', 0)" for c in OUTCOME_COLUMNS if self.has(c)]
        parts += [ge500(c) for c in (*HTTP_STATUS_COLUMNS, *self._http_code_columns()) if self.has(c)]
        parts += [self._failure_word(c) for c in STATUS_WORD_COLUMNS if self.has(c)]
        if self.has(event) and self._event_names(event):
            parts.append(self._failure_word(event))
            if failed:
                parts.append(f"ifNull(toString({self.expr(event)}) IN ({', '.join(map(q, failed))}), 0)")
        return "(" + " OR ".join(parts) + ")" if parts else "0"

    def with_reading(self, event: str, failed: list[str]) -> None:
        """The error definition once the reading is known (the event column, the failure events)."""
        if self.kind == "logs":
            self.err = self._error_sql(event, tuple(failed))

    def _event_names(self, event: str) -> bool:
        """:func:`obsnb.analysis.failures.event_names`, counted by the server."""
        e = self.expr(event)
        n, distinct = self.ask(f"whether `{event}` holds event names (distinct values)",
                               f"SELECT toInt64(count()) AS n, toInt64(uniqExact({e}) + max(isNull({e}))) AS u "
                               f"FROM {self.table} WHERE {self.where}").row(0)
        return n > 0 and distinct <= min(2000, max(20, 0.2 * n))

    def _http_code_columns(self) -> list[str]:
        cols = [c for c in HTTP_CODE_COLUMNS if c in self.schema and (self.schema[c].is_numeric() or self.schema[c] == pl.String)]
        if not cols:
            return []
        checks = []
        for c in cols:
            code = self._code_sql(c)
            checks += [f"toInt64(count({self.expr(c)})) AS `n{c}`",
                       f"toInt64(countIf(ifNull({code} >= 100 AND {code} <= 599 AND floor({code}) = {code}, 0))) AS `h{c}`"]
        row = self.ask("which status/code columns hold HTTP codes", f"SELECT {', '.join(checks)} FROM {self.table} "
                       f"WHERE {self.where}").row(0, named=True)
        return [c for c in cols if row[f"n{c}"] > 0 and row[f"n{c}"] == row[f"h{c}"]]

    def dependency(self) -> str:
        """:func:`obsnb.investigation.vocabulary.span_dependency_expr`, then the span name, as SQL."""
        parts = []
        for c in DEPENDENCY_SPAN_COLUMNS:
            if self.has(c):
                x = f"toString({self.expr(c)})"
                parts.append(f"nullIf(extract({x}, {q(_URL_HOST)}), '')" if c in ("url.full", "http.url") else x)
        return f"coalesce({', '.join([*parts, 'SpanName'])})"

    # --------------------------------------------------------------------------------------------- asking
    def during(self, lo: int | None, hi: int | None) -> str:
        """SQL for ``Timestamp`` in ``[lo, hi)`` (an open end where None)."""
        conds = ch.time_conditions(self.kind, self.cols, lo, hi)
        return "(" + " AND ".join(conds) + ")" if conds else "1"

    def ask(self, what: str, sql: str, *, pulled: bool = False) -> pl.DataFrame:
        """Run one query (an aggregate, or ``pulled``: rows of the evidence), recorded in :attr:`log`."""
        text = sql + "\nFORMAT ArrowStream"
        t = self.session.arrow(text)
        for i, f in enumerate(t.schema):
            if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type):
                t = t.set_column(i, f.name, t.column(i).cast(pa.string()))
        df = pl.from_arrow(t) if t.num_columns else pl.DataFrame()
        self.log.append(Asked(self.detector, what, sql, df.height, tuple(df.columns), pulled))
        return df

    def rows_of(self, what: str, names: list[str], where: str = "1", *, order: str = "Timestamp",
                limit: int | None = None) -> pl.DataFrame:
        """Rows of the evidence, only the canonical columns ``names`` (plus ``_err``), as the loaded frame has them:
        the first ``limit`` (an example), else all of them, up to :data:`MAX_PULL` (more is a BackendError)."""
        pulled_cap = MAX_PULL
        sel, post, alias = [], [], {}  # a column's name is data (an attribute key): never in the SQL, an alias is
        for n in dict.fromkeys(names):
            if n == "_err":
                sel.append(f"{self.err} AS `_err`")
            elif n == "level":
                sel += ["SeverityText AS _st", "SeverityNumber AS _sn"] if "SeverityNumber" in self.cols \
                    else ["SeverityText AS _st"]
                post.append(n)
            elif n in ("_source", "_line") or n not in self.schema:
                continue
            else:
                alias[f"_c{len(alias)}"] = n
                x = ch.SPANS_COLUMNS["end"][1] if n == "end" else "toUnixTimestamp64Nano(Timestamp)" if n == self.time \
                    else self.expr(n)
                sel.append(f"{x} AS _c{len(alias) - 1}")
        cap = limit if limit is not None else pulled_cap + 1
        sql = (f"SELECT {', '.join(sel) or '1 AS _one'} FROM {self.table} WHERE {self.where} AND ({where}) "
               f"ORDER BY {order} LIMIT {int(cap)}")
        got = self.ask(what, sql, pulled=True).rename(lambda c: alias.get(c, c))
        self.log[-1].columns = tuple(n for n in dict.fromkeys(names) if n in self.schema or n == "_err")
        if limit is None and got.height > pulled_cap:
            raise BackendError(f"ob.investigate ({self.detector}): more than {pulled_cap:,} {self.kind} rows to pull for "
                               f"{what}; narrow the window (start=/end=) or load the rows with ob.load and investigate the frame",
                               source=self.label, query=sql)
        if post:  # the level as the loader makes it, from the same two columns
            raw = got.select(pl.col("_st").alias("severity_text"), *([pl.col("_sn").alias("severity_number")]
                                                                     if "_sn" in got.columns else []))
            level = pl.from_arrow(ch._levels(raw.to_arrow()).column("level"))
            got = got.drop(["_st", "_sn"], strict=False).with_columns(pl.Series("level", level, pl.String))
        return self._typed(got, names)

    def _typed(self, got: pl.DataFrame, names: list[str]) -> pl.DataFrame:
        """The pulled columns in the loaded frame's types (``_source`` the load's label; ``_line`` unknown: null)."""
        exprs, keep = [], []
        for n in dict.fromkeys(names):
            if n == "_err":
                e = pl.col("_err").cast(pl.Boolean) if "_err" in got.columns else pl.lit(False)
            elif n == "_source":
                e = pl.lit(self.label).cast(self.schema["_source"])
            elif n == "_line":
                e = pl.lit(None, pl.Int64)
            elif n in (self.time, "end"):
                e = pl.col(n).cast(pl.Int64).cast(pl.Datetime("ns", "UTC"))
            elif n in self.schema:
                e = pl.col(n).cast(self.schema[n]) if n in got.columns else pl.lit(None, self.schema[n])
            else:
                continue
            exprs.append(e.alias(n))
            keep.append(n)
        return got.with_columns(exprs).select(keep)

    def lazy(self) -> pl.LazyFrame:
        """The evidence as a LazyFrame: a query on it pulls only the columns it reads (see the module docs)."""
        from polars.io.plugins import register_io_source

        full = {**self.schema, "_err": pl.Boolean}

        def source(with_columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None,
                   batch_size: int | None) -> Iterator[pl.DataFrame]:
            names = list(with_columns) if with_columns is not None else list(full)
            if predicate is not None:
                names += [c for c in predicate.meta.root_names() if c not in names]
            first = n_rows if predicate is None else None  # the first rows only: a LIMIT
            got = self.rows_of(f"{len(names)} columns ({', '.join(names)})", names, limit=first)
            if predicate is not None:
                got = got.filter(predicate)
            if n_rows is not None:
                got = got.head(n_rows)
            yield got.select(with_columns) if with_columns is not None else got

        return register_io_source(source, schema=full)

    # -------------------------------------------------------------------------------------------- telling
    def close(self) -> None:
        self.session.client.close()

    def told(self, detector: str) -> str:
        """What ``detector`` asked of the server and what it pulled, for ``looked_at`` (empty: nothing)."""
        mine = [a for a in self.log if a.detector == detector]
        if not mine:
            return ""
        aggs = [a for a in mine if not a.pulled]
        pulls = [a for a in mine if a.pulled]
        parts = []
        if aggs:
            parts.append(f"{_n(len(aggs), 'aggregate query', 'aggregate queries')} answered by the server "
                         f"({_n(sum(a.rows for a in aggs), 'row')} in all: " + " | ".join(dict.fromkeys(a.what for a in aggs)) + ")")
        if pulls:
            cols = sorted({c for a in pulls for c in a.columns})
            parts.append(f"{_n(sum(a.rows for a in pulls), 'row')} pulled in {_n(len(pulls), 'query', 'queries')} "
                         f"(columns {', '.join(cols)})")
        return f"{self.kind} on ClickHouse: " + " and ".join(parts)


def _n(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else many or one + 's'}"


def _stub(rm: Remote) -> pl.DataFrame:
    """Two rows at the evidence's first and last time: what :func:`obsnb.investigation.context.prepare` reads of a
    kind of evidence to place the window and the baseline (its rows, first and last time), without its rows."""
    times = [rm.first, rm.last] if rm.rows else []
    df = pl.DataFrame({rm.time: pl.Series(times, dtype=pl.Int64).cast(pl.Datetime("ns", "UTC"))})
    if rm.kind == "spans":
        df = df.with_columns(pl.col("start").alias("end"))
    return df.with_columns([pl.lit(None, dt).alias(c) for c, dt in rm.schema.items() if c not in df.columns]).select(list(rm.schema))


def prepare_remote(logs: Any, spans: Any, metrics: Any, hints: dict, start: Any, end: Any) -> tuple[Any, Any]:
    """(the reading, the context) of an investigation with at least one :class:`Remote`: the reading of the
    logs' vocabulary runs on :meth:`Remote.lazy` (it pulls the columns it reads); the spans' reading needs only
    their columns and whether there is any (a stub frame); the window and baseline come from the server's count
    and first and last time; the detectors then read ``ctx.logs``/``ctx.spans`` as :meth:`Remote.lazy` frames and
    find the :class:`Remote` with :func:`remote_of`."""
    from .context import prepare
    from .vocabulary import read_evidence

    remotes = {k: x for k, x in (("logs", logs), ("spans", spans)) if isinstance(x, Remote)}
    for rm in remotes.values():
        rm.detector = "reading"
    lg = logs.lazy().drop("_err") if isinstance(logs, Remote) else logs
    sp = _stub(spans).head(1) if isinstance(spans, Remote) else spans
    reading = read_evidence(lg, sp, hints)
    for rm in remotes.values():
        rm.with_reading(reading.event_column, reading.failed)
    stubs = [_stub(x) if isinstance(x, Remote) else x for x in (logs, spans)]
    ctx = prepare(stubs[0], stubs[1], metrics, reading, start, end)
    ctx = dataclasses.replace(ctx, rows={**ctx.rows, **{k: rm.rows for k, rm in remotes.items()}},
                              **{k: rm.lazy() for k, rm in remotes.items()})
    ctx.remote = remotes
    return reading, ctx

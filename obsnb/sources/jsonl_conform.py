"""JSON lines, typing and conform: canonical columns named, times in UTC, levels mapped, fields typed.

One SQL pass (:func:`_select`) names the canonical columns from the first field present of each
list in :mod:`obsnb.sources.jsonl_schema`; :func:`_finish` maps levels to DEBUG..CRITICAL on Arrow
(a handful of distinct values) and gives numeric and boolean fields their type back when every
value has it. The few records DuckDB could not read as the file's shape take the same path from
Python objects (:func:`_read_records`).
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

from ..schema import level_from_number, level_from_text
from ..timeutil import time_problem
from .jsonl_schema import (_BUNYAN, EVENT_FIELDS, LEVEL_FIELDS, LEVEL_NUM_FIELDS, SERVICE_FIELDS, SPAN_FIELDS,
                           TIME_FIELDS, TRACE_FIELDS, _q)

def _fetch_arrow(con, sql: str) -> pa.Table:
    rel = con.sql(sql)
    if hasattr(rel, "to_arrow_table"):  # materialised by DuckDB's threads rather than read as a stream
        return rel.to_arrow_table()
    res = rel.arrow()
    return res.read_all() if hasattr(res, "read_all") else res

def _flatten_dict(d: dict, prefix: str = "", out: dict | None = None) -> dict:
    """A record as flat ``a.b`` -> text, the way the DuckDB path sees it (VARCHAR leaves)."""
    out = {} if out is None else out
    for k, v in d.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            _flatten_dict(v, name + ".", out)
        elif v is None:
            out.setdefault(name, None)
        elif isinstance(v, str):
            out[name] = v
        elif isinstance(v, bool):
            out[name] = "true" if v else "false"
        elif isinstance(v, (int, float)):
            out[name] = json.dumps(v)
        else:
            out[name] = json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    return out

def _time_reason(obj: dict | None) -> str:
    if obj is not None:
        flat = _flatten_dict(obj)
        for c in TIME_FIELDS:
            if flat.get(c) is not None:
                problem = time_problem(flat[c])
                if problem is not None:
                    return f"{c}: {problem}"
                return f"unparseable timestamp {c}={flat[c][:60]!r}"
    return "no timestamp (looked for " + ", ".join(TIME_FIELDS[:6]) + ", ...)"

def _select(cols: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """SELECT list naming the canonical columns; returns it and {output column: field} for the rest.

    ``cols`` maps each flat field name to its SQL expression. Everything stays text here: levels are
    mapped and numbers typed afterwards on Arrow (a level column has a handful of distinct values).
    """
    pset = set(cols)

    def first(cands):
        return [c for c in cands if c in pset]

    used: set[str] = set()
    sel = []
    tf = first(TIME_FIELDS)
    sel.append(f"coalesce({', '.join(f'obsnb_str_ns({cols[c]})' for c in tf)}) AS __obsnb_time_ns" if tf
               else "CAST(NULL AS BIGINT) AS __obsnb_time_ns")
    if tf:  # a date-time written with no zone (python-json-logger's asctime): read as UTC unless tz= says
        raw = f"CAST(coalesce({', '.join(cols[c] for c in tf)}) AS VARCHAR)"
        tail = f"substr({raw}, 20)"  # after the seconds: where a zone would be (no regex: this runs on every row)
        # a CASE, not one AND chain: DuckDB evaluates every term of a conjunction in a SELECT list for every row,
        # while a CASE tests the rest only where the cheap suffix test leaves a doubt (1/6 of the CPU on the
        # big set, where nearly every time ends in Z); NULL for no time, as the conjunction gives
        sel.append(f"CASE WHEN {raw} IS NULL THEN NULL WHEN suffix({raw}, 'Z') THEN false "
                   f"WHEN length({raw}) >= 16 AND substr({raw}, 5, 1) = '-' AND substr({raw}, 11, 1) IN ('T', ' ') "
                   f"AND NOT (suffix({raw}, 'z') OR suffix({raw}, 'UTC') OR suffix({raw}, 'GMT') "
                   f"OR contains({tail}, '+') OR contains({tail}, '-')) THEN true ELSE false END AS __obsnb_time_naive")
    used.update(tf[:1])
    lf, ln = first(LEVEL_FIELDS), first(LEVEL_NUM_FIELDS)
    if lf:
        sel.append(f"coalesce({', '.join(cols[c] for c in lf)}) AS __obsnb_level_raw")
    if ln:
        sel.append(f"coalesce({', '.join(cols[c] for c in ln)}) AS __obsnb_level_otel")
    used.update((lf + ln)[:1])
    for canon, cands in (("event", EVENT_FIELDS), ("service", SERVICE_FIELDS), ("trace_id", TRACE_FIELDS),
                         ("span_id", SPAN_FIELDS)):
        f = first(cands)
        if canon == "service" and not f and _BUNYAN <= pset:
            f = ["name"]  # bunyan: the logger name is the service
        sel.append(f"coalesce({', '.join(cols[c] for c in f)}) AS {canon}" if f else f"CAST(NULL AS VARCHAR) AS {canon}")
        used.update(f[:1])
    rest = {}
    for n in cols:
        if n in used:
            continue
        alias = f"{n}_original" if n in ("time", "level", "event", "service", "trace_id", "span_id") else n
        sel.append(f"{cols[n]} AS {_q(alias)}")
        rest[alias] = n
    return sel, rest


def _levels(raw: pa.ChunkedArray | None, otel: pa.ChunkedArray | None, n: int) -> tuple[pa.Array, pa.Array | None]:
    """Canonical level and, when it differs from the written one by more than case, the original."""
    if raw is None and otel is None:
        return pa.nulls(n, pa.large_string()), None
    level = None
    original = None
    if raw is not None:
        enc = pc.dictionary_encode(raw).combine_chunks()
        words = enc.dictionary.to_pylist()
        mapped = pa.array([level_from_text(w) for w in words], pa.large_string())
        level = mapped.take(enc.indices)
        differs = pa.array([w is not None and level_from_text(w) != w.strip().upper() for w in words])
        if any(differs.to_pylist()):
            original = pc.if_else(differs.take(enc.indices), raw.combine_chunks(), pa.nulls(n, raw.type))
    if otel is not None:
        text = pa.types.is_string(otel.type) or pa.types.is_large_string(otel.type)
        nums = pc.cast(otel, pa.float64(), safe=False) if text else otel
        enc = pc.dictionary_encode(nums).combine_chunks()
        mapped = pa.array([level_from_number(v, "otel") if v is not None else None
                           for v in enc.dictionary.to_pylist()], pa.large_string())
        lv = mapped.take(enc.indices)
        level = lv if level is None else pc.coalesce(level, lv)
    return level, original


def _float_exact(col) -> bool:
    """Whether every integer written in ``col`` survives float64 (none above 2**53 in magnitude)."""
    wide = pc.greater_equal(pc.binary_length(col), 16)  # 2**53 has 16 digits: a shorter value fits
    if not pc.any(wide).as_py():
        return True
    col = pc.filter(col, wide)
    long = pc.match_substring_regex(col, r"^-?\d{16,}$")
    if not pc.any(long).as_py():
        return True
    big = pc.filter(col, long)
    if pc.any(pc.greater(pc.utf8_length(big), 17)).as_py():
        return False
    return not pc.any(pc.greater(pc.abs(big.cast(pa.int64())), 2**53)).as_py()


def _type_columns(out: pa.Table, rest: dict[str, str], types: dict[str, str]) -> pa.Table:
    """Numbers and booleans the sample saw get their type back when every value has it; else text."""
    names = {n: i for i, n in enumerate(out.column_names)}
    columns = list(out.columns)
    for alias, field in rest.items():
        target = {"BIGINT": pa.int64(), "DOUBLE": pa.float64(), "BOOLEAN": pa.bool_()}.get(types.get(field, ""))
        if target is None:
            continue
        col = columns[names[alias]]
        if target == pa.float64() and not _float_exact(col):
            continue  # an integer a float64 cannot hold exactly (an id above 2**53): the column stays text, exact
        try:
            typed = col.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            if target == pa.int64() and pc.any(pc.match_substring_regex(col, "[.eE]")).as_py() and _float_exact(col):
                try:  # integers, then a fraction: float64 (every value fits, none above 2**53)
                    typed = col.cast(pa.float64())
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    continue
            else:
                continue  # an integer above int64, or type drift: the column stays text
        columns[names[alias]] = typed
    return pa.table(columns, names=out.column_names)


def _finish(out: pa.Table, rest: dict[str, str], types: dict[str, str]) -> pa.Table:
    """__obsnb_time_ns -> time; levels mapped; fields typed; columns in canonical order."""
    n = out.num_rows
    names = out.column_names
    level, original = _levels(out.column("__obsnb_level_raw") if "__obsnb_level_raw" in names else None,
                              out.column("__obsnb_level_otel") if "__obsnb_level_otel" in names else None, n)
    out = _type_columns(out, rest, types)
    cols = {"time": out.column("__obsnb_time_ns").cast(pa.int64()).cast(pa.timestamp("ns", tz="UTC")), "level": level}
    for c in ("event", "service", "trace_id", "span_id"):
        cols[c] = out.column(c)
    if original is not None:
        cols["level_original"] = original
    for c in names:
        if c not in cols and not c.startswith("__obsnb_"):
            cols[c] = out.column(c)
    return pa.table(cols)

def _read_records(con, flat: list[dict], lines: list[int]) -> pa.Table:
    """The slow path for the few lines DuckDB could not read as the file's shape: flat records -> table."""
    t = pa.Table.from_pylist(flat)
    t = pa.table({n: t.column(n).cast(pa.string()) for n in t.column_names})
    t = t.append_column("_line", pa.array(lines, pa.int64()))
    cols = {n: _q(n) for n in t.column_names if n != "_line"}
    sel, rest = _select(cols)
    con.register("__rescued", t)
    try:
        out = _fetch_arrow(con, f"SELECT {', '.join(sel)}, _line FROM __rescued")
    finally:
        con.unregister("__rescued")
    return _finish(out, rest, {})

def _concat_unify(tables: list[pa.Table]) -> pa.Table:
    """Concatenate; a column typed in one table and text in another becomes typed when every value fits, else text."""
    types: dict[str, set] = {}
    for t in tables:
        for f in t.schema:
            if f.type != pa.null():
                types.setdefault(f.name, set()).add(f.type)
    fixed = []
    for t in tables:
        for name, ts in types.items():
            if len(ts) > 1 and name in t.column_names:
                text = (pa.string(), pa.large_string())
                target = next((x for x in ts if x not in text), pa.large_string())
                try:
                    col = t.column(name).cast(target)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    col = t.column(name).cast(pa.large_string())
                t = t.set_column(t.column_names.index(name), name, col)
        fixed.append(t)
    try:
        return pa.concat_tables(fixed, promote_options="permissive")
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        as_text = [pa.table({n: (c.cast(pa.large_string()) if n not in ("time", "_line", "_source") else c)
                             for n, c in zip(t.column_names, t.columns)}) for t in fixed]
        return pa.concat_tables(as_text, promote_options="permissive")

"""What the one-JSON-object-per-line readers share (Docker's json-file, journald's JSON export).

Each sniffs its objects by their members (:func:`sniff_objects`), reads the file's lines, hands them to
DuckDB as a table ``i`` (row number), ``s`` (the line) and runs its SQL over them with
:func:`objects_sql` telling objects from the rest (:func:`query_lines`); the input is unregistered
however the query ends.
"""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pyarrow as pa

from ._lines import connect, head_lines

__all__ = ["sniff_objects", "objects_sql", "query_lines"]


def sniff_objects(head: bytes, is_mine) -> float:
    """0.95 (above generic JSON lines' 0.5) when ``is_mine(obj)`` holds for 80% of the head's first 20 lines."""
    hits = total = 0
    for ln in head_lines(head, 20):
        total += 1
        try:
            obj = json.loads(ln)
        except (ValueError, RecursionError):  # nesting too deep for Python's parser is not a sniff crash
            continue
        hits += isinstance(obj, dict) and bool(is_mine(obj))
    return 0.95 if total and hits / total >= 0.8 else 0.0


def objects_sql(table: str) -> str:
    """SQL over ``table`` (``i``, ``s``: row number, line) giving ``i``, ``ok`` (the line is a JSON object) and
    ``j``, the line or ``{}`` where it is none (DuckDB's json functions raise on malformed input).
    One JSON parse per line (json_valid); an object is told by its first character."""
    return f"""SELECT i, ok, CASE WHEN ok THEN s ELSE '{{}}' END AS j
FROM (SELECT i, s, coalesce(json_valid(s) AND starts_with(ltrim(s), '{{'), false) AS ok FROM {table})"""


def query_lines(lines: pa.Array, name: str, sql: str) -> tuple[duckdb.DuckDBPyConnection, pa.Table | None]:
    """Run ``sql`` with ``lines`` registered as the table ``name`` (``i``, ``s``); (this thread's connection,
    the result as Arrow, or None for a statement that returns none such as ``CREATE TABLE``)."""
    con = connect()
    con.register(name, pa.table({"i": np.arange(len(lines), dtype=np.int64), "s": lines}))
    try:
        rel = con.sql(sql)
        return con, None if rel is None else rel.to_arrow_table()
    finally:
        con.unregister(name)

"""What counts as an error: one definition, used by ``ob.error_rate``'s default and by ``ob.investigate``.

A log row is an error when any of these holds (each only where the column exists):

* ``level`` is ERROR or CRITICAL;
* an outcome column (``event.outcome``, ``outcome``) says ``failure``, or a status column (``status``,
  ``result``, ``state``, ``outcome``) holds a failure word (``timeout``, ``failed``, ``error``, ...);
* an HTTP status column (``http.response.status_code``, ``http.status_code``, ``status_code``,
  ``http_status``, ``response.status``) holds a number >= 500 (and < 600);
* a bare ``status`` or ``code`` column holds an HTTP status >= 500, when the column *is* HTTP codes: every
  non-null value an integer (or integral text such as ``"503"``) in 100..599. A column with any other value
  (``ok``, ``0``, ``1001``, ``ECONNRESET``, ``2.5``) is not read as HTTP: gRPC codes and app codes are not;
  a word status (``status=failed``) is still a failure word below;
* the event names a failure: a word such as ``failed``, ``failure``, ``error``, ``exception``,
  ``timeout``, ``crashed``, ``aborted``, ``rejected``, ``dead_lettered`` in a short event name
  (``job_failed``, ``task.error``, ``upload timed out``), when the event column holds event names
  (few distinct values), not free-text messages.

A span is an error when ``status`` is ERROR or an HTTP status attribute is >= 500. A chart and a
summary that use this module never disagree about how many errors there were.
"""

from __future__ import annotations

import polars as pl

__all__ = ["FAILURE_WORDS", "OUTCOME_COLUMNS", "HTTP_STATUS_COLUMNS", "HTTP_CODE_COLUMNS", "failure_event", "error_expr", "is_spans",
           "event_names"]

FAILURE_WORDS = (
    r"(?i)(?:^|[^a-z])(?:fail|failed|failing|failure|error|errored|errors|exception|timeout|timed[ _.-]?out|"
    r"crash|crashed|abort|aborted|reject|rejected|dead[ _.-]?letter(?:ed)?|panic|fatal|unavailable|refused)(?:$|[^a-z])"
)
OUTCOME_COLUMNS = ("event.outcome", "outcome")
STATUS_WORD_COLUMNS = ("status", "result", "state", "outcome")
HTTP_STATUS_COLUMNS = ("http.response.status_code", "http.status_code", "status_code", "http_status", "response.status")
# Read as HTTP statuses only when every non-null value is an HTTP code (see http_code_columns).
HTTP_CODE_COLUMNS = ("status", "code")
_HTTP_TEXT = r"^\s*(\d{3})(?:\.0+)?\s*$"
_MAX_EVENT_WORDS = 6  # longer events are free text: their words are not an event name


def failure_event(column: str = "event") -> pl.Expr:
    """True where ``column`` is a short event name that names a failure (``job_failed``, ``sync timed out``)."""
    text = pl.col(column).cast(pl.String)
    short = text.str.count_matches(r"\s+") < _MAX_EVENT_WORDS
    return (text.str.contains(FAILURE_WORDS) & short).fill_null(False)


def event_names(frame: pl.DataFrame, column: str) -> bool:
    """Whether ``column`` holds event names (few distinct values, each repeated: ``job_failed``) rather than
    free-text messages, whose words are not a verdict ("Failed to connect, retrying" at INFO)."""
    if column not in _schema(frame):
        return False
    if isinstance(frame, pl.LazyFrame):  # one pass over the column, in the engine
        n, distinct = frame.select(pl.len(), pl.col(column).n_unique()).collect(engine="streaming").row(0)
    else:
        n, distinct = frame.height, (frame.get_column(column).n_unique() if frame.height else 0)
    return n > 0 and distinct <= min(2000, max(20, 0.2 * n))


def _schema(frame: pl.DataFrame | pl.LazyFrame) -> pl.Schema:
    return frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema


def is_spans(frame: pl.DataFrame | pl.LazyFrame) -> bool:
    """Whether a frame is a canonical span frame (has ``span_id``, ``start``, ``status``)."""
    return {"span_id", "start", "status"} <= set(_schema(frame).names())


def _code(c: str, dtype: pl.DataType) -> pl.Expr:
    """A column's values as numbers: numeric as is, text read only when it is a 3-digit code (else null)."""
    if dtype.is_numeric():
        return pl.col(c).cast(pl.Float64)
    return pl.col(c).cast(pl.String).str.extract(_HTTP_TEXT).cast(pl.Int64, strict=False)


def _status_ge_500(frame: pl.DataFrame | pl.LazyFrame, columns: tuple[str, ...]) -> list[pl.Expr]:
    sch = _schema(frame)
    return [((code >= 500) & (code < 600)).fill_null(False)
            for c in columns if c in sch and sch[c] != pl.Null for code in [_code(c, sch[c])]]


def http_code_columns(frame: pl.DataFrame | pl.LazyFrame) -> tuple[str, ...]:
    """The columns of :data:`HTTP_CODE_COLUMNS` in ``frame`` that hold HTTP codes: at least one non-null value
    and every non-null value integral in 100..599 (one pass over those columns, in the engine)."""
    sch = _schema(frame)
    cols = [c for c in HTTP_CODE_COLUMNS if c in sch and (sch[c].is_numeric() or sch[c] == pl.String)]
    if not cols:
        return ()
    checks = []
    for c in cols:
        code = _code(c, sch[c]).cast(pl.Float64)
        http = ((code >= 100) & (code <= 599) & (code.floor() == code)).fill_null(False)
        checks += [pl.col(c).count().alias(f"n{c}"), http.sum().alias(f"h{c}")]
    q = frame.select(checks)
    row = (q.collect(engine="streaming") if isinstance(q, pl.LazyFrame) else q).row(0, named=True)
    return tuple(c for c in cols if row[f"n{c}"] > 0 and row[f"n{c}"] == row[f"h{c}"])


def error_expr(frame: pl.DataFrame | pl.LazyFrame, *, event: str = "event", failed_events: list[str] | None = None) -> pl.Expr:
    """A boolean expression: which rows of ``frame`` (logs or spans) are errors, by the module's definition.

    ``failed_events`` names event values that are failures whatever their words (a hint); ``event`` is
    the column holding event names.
    """
    parts: list[pl.Expr] = []
    sch = _schema(frame)
    if is_spans(frame):
        parts.append(pl.col("status").cast(pl.String).str.to_uppercase().eq("ERROR").fill_null(False))
        parts += _status_ge_500(frame, ("http.response.status_code", "http.status_code"))
    else:
        if "level" in sch:
            parts.append(pl.col("level").cast(pl.String).is_in(["ERROR", "CRITICAL"]).fill_null(False))
        for c in OUTCOME_COLUMNS:
            if c in sch and sch[c] != pl.Null:
                parts.append(pl.col(c).cast(pl.String).str.to_lowercase().eq("failure").fill_null(False))
        parts += _status_ge_500(frame, HTTP_STATUS_COLUMNS + http_code_columns(frame))
        for c in STATUS_WORD_COLUMNS:
            if c in sch and sch[c] != pl.Null:
                parts.append(failure_event(c))
        if event in sch and sch[event] != pl.Null and event_names(frame, event):
            parts.append(failure_event(event))
            if failed_events:
                parts.append(pl.col(event).cast(pl.String).is_in(list(failed_events)).fill_null(False))
    if not parts:
        return pl.repeat(False, pl.len())
    return pl.any_horizontal(parts)

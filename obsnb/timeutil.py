"""One parser for times, durations and relative times. Everything is UTC.

Scalars (``start=``/``end=`` arguments, CLI options) go through :func:`to_utc` / :func:`to_ns`;
columns go through :data:`SQL_TIME_MACROS` (DuckDB) so that every loader normalises the same way.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from typing import Any

from .errors import UsageError

UTC = _dt.timezone.utc
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=UTC)

__all__ = ["to_utc", "to_ns", "parse_duration", "duration_ns", "epoch_to_ns", "now", "format_duration", "time_problem"]

_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "min": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
    "d": 86400 * 1_000_000_000,
    "w": 7 * 86400 * 1_000_000_000,
}
_DUR_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|min|s|m|h|d|w)", re.I)


def now() -> _dt.datetime:
    """The current time, UTC (one place to patch in tests)."""
    return _dt.datetime.now(UTC)


def duration_ns(value: Any) -> int:
    """A duration in integer nanoseconds: ``"90s"``, ``"15m"``, ``"1h30m"``, ``"500ms"``, a timedelta, or seconds."""
    if isinstance(value, _dt.timedelta):
        return (value.days * 86400 + value.seconds) * 1_000_000_000 + value.microseconds * 1_000
    if hasattr(value, "value") and type(value).__name__ == "Timedelta":  # pandas.Timedelta
        return int(value.value)
    if hasattr(value, "dtype") and str(getattr(value, "dtype", "")).startswith("timedelta64"):
        import numpy as np

        return int(np.timedelta64(value, "ns").astype("int64"))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(round(value * 1_000_000_000))
    if isinstance(value, str):
        s = value.strip().replace(" ", "")
        pos, total = 0, 0
        for m in _DUR_RE.finditer(s):
            if m.start() != pos:
                break
            total += round(float(m.group(1)) * _UNITS_NS[m.group(2).lower()])
            pos = m.end()
        if pos == len(s) and s:
            return int(total)
    msg = (
        f"cannot read {value!r} as a duration; write it like '90s', '15m', '2h', '1h30m', '500ms' "
        "or pass a datetime.timedelta"
    )
    raise UsageError(msg)


def parse_duration(value: Any) -> _dt.timedelta:
    """A duration as a :class:`datetime.timedelta` (see :func:`duration_ns` for the accepted forms)."""
    ns = duration_ns(value)
    return _dt.timedelta(microseconds=ns / 1_000)


def format_duration(ns: int) -> str:
    """A compact human form of a nanosecond duration: ``1h10m``, ``90s``, ``250ms``."""
    if ns < 1_000_000_000:
        return f"{ns / 1_000_000:g}ms"
    s = ns // 1_000_000_000
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if s >= size:
            parts.append(f"{s // size}{unit}")
            s %= size
    return "".join(parts) or "0s"


def epoch_to_ns(x: float | int) -> int:
    """Epoch seconds, milliseconds, microseconds or nanoseconds, told apart by magnitude, as nanoseconds."""
    a = abs(x)
    if a < 1e11:  # seconds until the year 5138
        return int(round(x * 1_000_000_000))
    if a < 1e14:
        return int(round(x * 1_000_000))
    if a < 1e17:
        return int(round(x * 1_000))
    return int(x)


_REL_RE = re.compile(r"^now\s*(?:([+-])\s*(.+))?$", re.I)


def to_utc(value: Any) -> _dt.datetime:
    """A point in time as an aware UTC datetime.

    Accepts aware or naive datetimes (naive means UTC), dates, ISO 8601 strings with any offset,
    epoch numbers (s/ms/µs/ns by magnitude, also as strings), ``"now"``, ``"now-2h"``, ``"now+15m"``,
    pandas Timestamps and numpy datetime64.
    """
    return _EPOCH + _dt.timedelta(microseconds=to_ns(value) / 1_000)


def to_ns(value: Any) -> int:
    """A point in time as integer nanoseconds since the epoch, UTC (same inputs as :func:`to_utc`)."""
    if value is None:
        raise UsageError("a time is required here, got None")
    if isinstance(value, bool):
        raise UsageError(f"cannot read {value!r} as a time")
    if isinstance(value, (int, float)):
        return epoch_to_ns(value)
    if type(value).__name__ == "Timestamp" and hasattr(value, "value"):  # pandas
        if value.tzinfo is None:
            return int(value.value)
        return int(value.tz_convert("UTC").value)
    if type(value).__name__ == "datetime64":
        import numpy as np

        return int(np.datetime64(value, "ns").astype("int64"))
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        delta = value - _EPOCH
        return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
    if isinstance(value, _dt.date):
        return to_ns(_dt.datetime(value.year, value.month, value.day, tzinfo=UTC))
    if isinstance(value, str):
        s = value.strip()
        m = _REL_RE.match(s)
        if m:
            base = to_ns(now())
            if m.group(1):
                d = duration_ns(m.group(2))
                return base + d if m.group(1) == "+" else base - d
            return base
        try:
            return epoch_to_ns(float(s)) if re.fullmatch(r"[+-]?\d+(\.\d*)?", s) else _iso_ns(s)
        except ValueError:
            pass
    msg = (
        f"cannot read {value!r} as a time; use an ISO 8601 string ('2024-05-14T13:05:00Z'), "
        "a datetime, epoch seconds/ms/ns, or a relative time like 'now-2h'"
    )
    raise UsageError(msg)


_FRAC_RE = re.compile(r"^(.*?[T ]\d{2}:\d{2}:\d{2})\.(\d+)(.*)$")


def _iso_ns(s: str) -> int:
    s2 = s.replace("z", "Z")
    if s2.endswith("Z"):
        s2 = s2[:-1] + "+00:00"
    frac_ns = 0
    m = _FRAC_RE.match(s2)
    if m:  # keep nanoseconds that datetime cannot hold
        digits = (m.group(2) + "000000000")[:9]
        frac_ns = int(digits)
        s2 = m.group(1) + m.group(3)
    d = _dt.datetime.fromisoformat(s2)
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    return to_ns(d.replace(microsecond=0)) + frac_ns


# The instants a nanosecond int64 (pandas' datetime64[ns]) can hold.
NS_MIN_TEXT, NS_MAX_TEXT = "1677-09-21T00:12:43Z", "2262-04-11T23:47:16Z"
# A UTC offset beyond this is rejected (ISO 8601 practice and every real zone stay within ±14:00; ±18:00 is
# the bound java.time and Python's datetime accept), and so is a minutes field of 60 or more.
MAX_OFFSET_HOURS = 18

# DuckDB macros shared by every loader that normalises a column of mixed timestamps.
# obsnb_str_ns(s VARCHAR) / obsnb_json_ns(j JSON) -> BIGINT epoch ns, NULL when it cannot be read: a time
# outside the nanosecond range (Go's zero time 0001-01-01, 9999-12-31, epoch -62135596800) and an offset
# beyond ±18:00 (+25:00, +99:99) are NULL too, never an error that stops the load (see time_problem()).
SQL_TIME_MACROS = r"""
CREATE OR REPLACE MACRO obsnb_epoch_ns(x) AS (
    CASE WHEN x IS NULL OR isnan(x) OR isinf(x) THEN NULL
         WHEN abs(x) < 1e11 THEN TRY_CAST(round(x * 1e9) AS BIGINT)
         WHEN abs(x) < 1e14 THEN TRY_CAST(round(x * 1e6) AS BIGINT)
         WHEN abs(x) < 1e17 THEN TRY_CAST(round(x * 1e3) AS BIGINT)
         WHEN abs(x) < 9.2e18 THEN TRY_CAST(x AS BIGINT)
         ELSE NULL END);
CREATE OR REPLACE MACRO obsnb_iepoch_ns(x) AS (TRY_CAST(
    CASE WHEN x IS NULL THEN NULL
         WHEN abs(x) < 100000000000 THEN x * 1000000000
         WHEN abs(x) < 100000000000000 THEN x * 1000000
         WHEN abs(x) < 100000000000000000 THEN x * 1000
         ELSE x END AS BIGINT));
CREATE OR REPLACE MACRO obsnb_off_bad(hh, mm) AS (hh > '18' OR (hh = '18' AND mm <> '00') OR mm >= '60');
CREATE OR REPLACE MACRO obsnb_bad_offset(s) AS (
    length(s) > 19 AND (
        (substr(s, -6, 1) IN ('+', '-') AND substr(s, -3, 1) = ':' AND obsnb_off_bad(substr(s, -5, 2), substr(s, -2, 2)))
        OR (substr(s, -5, 1) IN ('+', '-') AND NOT contains(substr(s, -4, 4), ':')
            AND obsnb_off_bad(substr(s, -4, 2), substr(s, -2, 2)))
        OR (substr(s, -3, 1) IN ('+', '-') AND substr(s, -2, 2) > '18')));
CREATE OR REPLACE MACRO obsnb_parse_ns(s) AS (
    coalesce(try(epoch_ns(TRY_CAST(s AS TIMESTAMPTZ))) + CASE WHEN length(s) > 27
                 THEN coalesce(TRY_CAST(rpad(regexp_extract(s, '\.\d{6}(\d{1,3})', 1), 3, '0') AS BIGINT), 0) ELSE 0 END,
        CASE WHEN s IS NULL THEN NULL
             WHEN regexp_full_match(s, '\s*[+-]?\d{1,19}\s*') THEN obsnb_iepoch_ns(TRY_CAST(s AS HUGEINT))
             WHEN regexp_full_match(s, '\s*[+-]?\d+\.\d*\s*') THEN obsnb_epoch_ns(TRY_CAST(s AS DOUBLE))
             ELSE try(epoch_ns(TRY_CAST(regexp_replace(s, '(\d{2}:\d{2}:\d{2}),(\d)', '\1.\2') AS TIMESTAMPTZ)))
             END));
CREATE OR REPLACE MACRO obsnb_str_ns(s) AS (
    CASE WHEN NOT suffix(s, 'Z') AND obsnb_bad_offset(s) THEN NULL ELSE obsnb_parse_ns(s) END);
CREATE OR REPLACE MACRO obsnb_json_ns(j) AS (
    CASE json_type(j)
        WHEN 'VARCHAR' THEN obsnb_str_ns(j ->> '$')
        WHEN 'BIGINT' THEN obsnb_iepoch_ns(TRY_CAST(j AS HUGEINT))
        WHEN 'UBIGINT' THEN obsnb_iepoch_ns(TRY_CAST(j AS HUGEINT))
        WHEN 'DOUBLE' THEN obsnb_epoch_ns(TRY_CAST(j AS DOUBLE))
        ELSE NULL END);
"""

_OFFSET_RE = re.compile(r"[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*([+-])(\d{2}):?(\d{2})?\s*$")
_YEAR_RE = re.compile(r"^\s*([+-]?\d{4,})-\d{2}-\d{2}")
_NUM_RE = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")


def time_problem(text: object) -> str | None:
    """Why a timestamp that did not parse cannot be placed, when the reason is its range; else None.

    Called for rejected records only (a reason per rejected record), never per loaded row.
    """
    if text is None:
        return None
    s = str(text)
    m = _OFFSET_RE.search(s)
    minutes = int(m.group(3) or 0) if m else 0
    if m and (int(m.group(2)) * 60 + minutes > MAX_OFFSET_HOURS * 60 or minutes >= 60):
        return (f"timestamp {s[:60]!r} has UTC offset {m.group(1)}{m.group(2)}:{m.group(3) or '00'}, out of range "
                f"(offsets are within ±{MAX_OFFSET_HOURS:02d}:00)")
    out = (f"timestamp {s[:60]!r} is out of range: a time must lie within {NS_MIN_TEXT}..{NS_MAX_TEXT} "
           "(nanoseconds in 64 bits)")
    m = _YEAR_RE.match(s)
    if m:
        year = int(m.group(1))
        return out if year < 1678 or year > 2261 else None
    if _NUM_RE.match(s):
        try:
            x = float(s)
        except ValueError:
            return None
        if not math.isfinite(x):  # 1e400 reads as inf
            return out
        return out if abs(epoch_to_ns(x)) >= 2**63 - 1 else None
    return None

"""Every timestamp spelling the loaders' SQL time macros read, against the instant Python's datetime gives.

The expected nanoseconds are computed here from the fields of each spelling (``datetime`` with a fixed
offset, plus the digits of the fraction), never by obsnb: a change to ``obsnb_str_ns`` / ``obsnb_json_ns``
(a fast path for the common shapes, say) must give every one of them the same value, and must go on
rejecting the ones listed as unreadable. The macros run over one column holding every spelling, the way a
loader runs them (DuckDB's vectorised path), and the same values go through a JSON-lines load.
"""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pytest

import obsnb as ob
from obsnb.timeutil import SQL_TIME_MACROS

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def ns(y, mo, d, h=0, mi=0, s=0, frac="", off=(0, 0), days=0):
    """Epoch ns of a wall time at UTC offset ``off`` (hours, minutes; a sign on hours applies to both)."""
    sign = -1 if off[0] < 0 else 1
    zone = dt.timezone(sign * dt.timedelta(hours=abs(off[0]), minutes=off[1]))
    delta = dt.datetime(y, mo, d, h, mi, s, tzinfo=zone) + dt.timedelta(days=days) - EPOCH
    return (delta.days * 86400 + delta.seconds) * 10**9 + int((frac + "000000000")[:9])


READ = [
    # RFC 3339 / ISO 8601 in UTC, every fraction length (nanoseconds kept past datetime's microseconds)
    ("2024-05-14T00:00:00Z", ns(2024, 5, 14)),
    ("2024-05-14T00:00:00.1Z", ns(2024, 5, 14, frac="1")),
    ("2024-05-14T00:00:00.123Z", ns(2024, 5, 14, frac="123")),
    ("2024-05-14T00:00:00.045165Z", ns(2024, 5, 14, frac="045165")),
    ("2024-05-14T00:00:00.1234567Z", ns(2024, 5, 14, frac="1234567")),
    ("2024-05-14T00:00:00.123456789Z", ns(2024, 5, 14, frac="123456789")),
    ("2024-05-14T00:00:00.000000001Z", ns(2024, 5, 14, frac="000000001")),
    ("2024-12-31T23:59:59.999999Z", ns(2024, 12, 31, 23, 59, 59, frac="999999")),
    ("2024-02-29T12:30:45Z", ns(2024, 2, 29, 12, 30, 45)),
    ("2024-05-14T00:00Z", ns(2024, 5, 14)),
    ("2024-05-14 00:00:00Z", ns(2024, 5, 14)),
    ("2024-05-14T00:00:00.123456+00:00", ns(2024, 5, 14, frac="123456")),
    ("  2024-05-14T00:00:00Z", ns(2024, 5, 14)),
    ("2024-05-14T00:00:00Z ", ns(2024, 5, 14)),
    ("2024-05-14T24:00:00Z", ns(2024, 5, 14, days=1)),  # ISO 8601's end of day
    # offsets: with and without a colon, hours only, at the ±18:00 bound
    ("2024-05-14T00:00:00+02:00", ns(2024, 5, 14, off=(2, 0))),
    ("2024-05-14T00:00:00.5-05:00", ns(2024, 5, 14, frac="5", off=(-5, 0))),
    ("2024-05-14T12:00:00.5+05:30", ns(2024, 5, 14, 12, frac="5", off=(5, 30))),
    ("2024-05-14T00:00:00+0530", ns(2024, 5, 14, off=(5, 30))),
    ("2024-05-14T12:00:00-0500", ns(2024, 5, 14, 12, off=(-5, 0))),
    ("2024-05-14T00:00:00+05", ns(2024, 5, 14, off=(5, 0))),
    ("2024-05-14T12:00:00-03", ns(2024, 5, 14, 12, off=(-3, 0))),
    ("2024-05-14T00:00:00+14:00", ns(2024, 5, 14, off=(14, 0))),
    ("2024-05-14T00:00:00+18:00", ns(2024, 5, 14, off=(18, 0))),
    ("2024-05-14T00:00:00.123456789+02:00", ns(2024, 5, 14, frac="123456789", off=(2, 0))),
    # zone names, zone-less (read as UTC here), a comma before the fraction, a date alone
    ("2024-05-14 12:00:00 GMT", ns(2024, 5, 14, 12)),
    ("2024-05-14T12:00:00.250 GMT", ns(2024, 5, 14, 12, frac="250")),
    ("2024-05-14T00:00:00 UTC", ns(2024, 5, 14)),
    ("2024-05-14 00:00:00", ns(2024, 5, 14)),
    ("2024-05-14T12:00", ns(2024, 5, 14, 12)),
    ("2024-05-14 12:00:00.123456789", ns(2024, 5, 14, 12, frac="123456789")),
    ("2024-05-14T00:00:00,123Z", ns(2024, 5, 14, frac="123")),
    ("2024-05-14 12:00:00,250", ns(2024, 5, 14, 12, frac="250")),
    ("2024-05-14", ns(2024, 5, 14)),
    # the ends of the range 64-bit nanoseconds hold
    ("1677-09-21T00:12:44Z", ns(1677, 9, 21, 0, 12, 44)),
    ("2262-04-11T23:47:16Z", ns(2262, 4, 11, 23, 47, 16)),
    # epoch numbers written as text: the unit told by magnitude
    ("1715644800", 1715644800 * 10**9),
    (" 1715644800 ", 1715644800 * 10**9),
    ("1715644800123", 1715644800123 * 10**6),
    ("1715644800123456", 1715644800123456 * 10**3),
    ("1715644800123456789", 1715644800123456789),
    ("1715644800.5", 1715644800 * 10**9 + 500_000_000),
    ("-1", -(10**9)),
]

UNREADABLE = [
    "hello", "", "2024-02-30T00:00:00Z", "2024-05-14T00:00:60Z", "+2024-05-14T00:00:00Z",
    "2024-05-14T00:00:00+18:30", "2024-05-14T00:00:00+25:00", "2024-05-14T00:00:00+05:60",
    "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2262-04-11T23:47:17Z",
    "2024-05-14T00:00:00.123456Z+01:00", "-9223372036854775809", "9999999999999999999",
]


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    c.execute("SET TimeZone='UTC'")
    c.execute(SQL_TIME_MACROS)
    yield c
    c.close()


def test_every_spelling_read_today_gives_the_instant_datetime_gives(con):
    texts = [s for s, _ in READ] + UNREADABLE
    got = con.execute("SELECT s, obsnb_str_ns(s) FROM unnest(?) AS t(s)", [texts]).fetchall()
    assert dict(got) == {**dict(READ), **dict.fromkeys(UNREADABLE)}


def test_json_values_strings_and_numbers_alike(con):
    values = [json.dumps(s) for s, _ in READ] + ["1715644800", "1715644800123", "1715644800123456789", "1715644800.5",
                                                 "true", "null", "[1]"]
    want = [n for _, n in READ] + [1715644800 * 10**9, 1715644800123 * 10**6, 1715644800123456789,
                                   1715644800 * 10**9 + 500_000_000, None, None, None]
    got = con.execute("SELECT list(obsnb_json_ns(j::JSON) ORDER BY i) FROM unnest(?) WITH ORDINALITY AS t(j, i)",
                      [values]).fetchone()[0]
    assert got == want


def test_a_json_lines_load_places_every_spelling_and_rejects_the_rest(tmp_path):
    p = tmp_path / "times.jsonl"
    rows = [{"ts": s, "tag": f"m{i}"} for i, (s, _) in enumerate(READ)]
    rows += [{"ts": s, "tag": f"bad{i}"} for i, s in enumerate(UNREADABLE)]
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.warns(UserWarning):  # the zone-less spellings are read as UTC, and said so
        df = ob.load(str(p), engine="polars")
    got = dict(zip(df["tag"].to_list(), df["time"].dt.epoch("ns").to_list()))
    assert got == {f"m{i}": n for i, (_, n) in enumerate(READ)}
    rej = ob.rejected(df)
    assert sorted(rej["line"].to_list()) == list(range(len(READ) + 1, len(READ) + len(UNREADABLE) + 1))

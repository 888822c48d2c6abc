"""JSON lines: which written times carry a zone (never moved by ``tz=``) and which do not (read in ``tz=``).

Expected instants come from Python's datetime and zoneinfo, one per spelling, not from obsnb.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo

import obsnb as ob

UTC = dt.timezone.utc
NY = zoneinfo.ZoneInfo("America/New_York")


def _ns(d: dt.datetime) -> int:
    delta = d - dt.datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000


NOON = dt.datetime(2024, 5, 14, 12, tzinfo=UTC)
WITH_ZONE = {  # spelling -> instant, whatever tz= says
    "2024-05-14T12:00:00Z": NOON,
    "2024-05-14T12:00:00.250Z": NOON + dt.timedelta(milliseconds=250),
    "2024-05-14 12:00:00Z": NOON,
    "2024-05-14T12:00:00 UTC": NOON,
    "2024-05-14 12:00:00 GMT": NOON,
    "2024-05-14T12:00:00+02:00": NOON - dt.timedelta(hours=2),
    "2024-05-14T12:00:00-0500": NOON + dt.timedelta(hours=5),
    "2024-05-14T12:00:00+05": NOON - dt.timedelta(hours=5),
    "2024-05-14T12:00:00-03": NOON + dt.timedelta(hours=3),
    "2024-05-14": dt.datetime(2024, 5, 14, tzinfo=UTC),  # a date alone is not a wall time
}
ZONE_LESS = {  # spelling -> the wall time it writes
    "2024-05-14 12:00:00": dt.datetime(2024, 5, 14, 12),
    "2024-05-14T12:00:00.250": dt.datetime(2024, 5, 14, 12, 0, 0, 250_000),
    "2024-05-14 12:00:00,250": dt.datetime(2024, 5, 14, 12, 0, 0, 250_000),
    "2024-05-14T12:00": dt.datetime(2024, 5, 14, 12),
    "2024-01-14 12:00:00": dt.datetime(2024, 1, 14, 12),  # EST, not EDT
}


def _file(tmp_path):
    p = tmp_path / "zones.jsonl"
    texts = list(WITH_ZONE) + list(ZONE_LESS)
    p.write_text("".join(json.dumps({"time": s, "tag": s}) + "\n" for s in texts))
    return p


def _times(df) -> dict[str, int]:
    return dict(zip(df["tag"].to_list(), df["time"].dt.epoch("ns").to_list()))


def test_times_with_a_zone_stay_put_and_zone_less_ones_are_read_in_tz(tmp_path):
    got = _times(ob.load(str(_file(tmp_path)), tz="America/New_York", engine="polars"))
    want = {s: _ns(d) for s, d in WITH_ZONE.items()}
    want.update({s: _ns(w.replace(tzinfo=NY)) for s, w in ZONE_LESS.items()})
    assert got == want


def test_without_tz_zone_less_times_are_utc_and_said_so_once(tmp_path, recwarn):
    got = _times(ob.load(str(_file(tmp_path)), engine="polars"))
    want = {s: _ns(d) for s, d in WITH_ZONE.items()}
    want.update({s: _ns(w.replace(tzinfo=UTC)) for s, w in ZONE_LESS.items()})
    assert got == want
    assert len([w for w in recwarn if "no time zone" in str(w.message)]) == 1

"""ISO 8601 stamps of log4j-style lines: every fraction and zone shape, calendar edges, impossible times.

Expected times come from Python's datetime over the same text, not from obsnb.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings

import pandas as pd
import pytest

import obsnb as ob
from conformance import load_quiet

STAMPS = [
    "2024-05-14 12:00:01,123",
    "2024-05-14 12:00:01.5",
    "2024-05-14T12:00:01.123456",
    "2024-05-14T12:00:01.123456789",
    "2024-05-14T12:00:01Z",
    "2024-05-14T12:00:01.25Z",
    "2024-05-14T12:00:01+02:00",
    "2024-05-14T12:00:01.007-0530",
    "2024-05-14 23:30:00,000+01:00",  # the offset moves it to the next UTC day
    "2024-02-29 00:00:00,000",  # leap year
    "2000-02-29 00:00:00,000",  # divisible by 400: leap
    "1970-01-01 00:00:00,000",
    "1969-12-31 23:59:59,999",  # before the epoch
    "2024-12-31 24:00:00,000",  # end of day: the next midnight
    "2016-12-31 23:59:60,000",  # a leap second rolls over
]
IMPOSSIBLE = [
    "2023-02-29 00:00:00,000",
    "1900-02-29 00:00:00,000",
    "2024-04-31 00:00:00,000",
    "2024-13-01 00:00:00,000",
    "2024-00-10 00:00:00,000",
    "2024-05-00 00:00:00,000",
    "2024-05-14 24:00:01,000",
    "2024-05-14 12:60:00,000",
    "0001-01-01 00:00:00,000",  # outside nanosecond timestamps
    "9999-12-31 00:00:00,000",
]


def expected_ns(stamp: str) -> int:
    """Epoch ns of an ISO stamp by datetime: zone-less as UTC, 24:00 and :60 rolled over."""
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?(Z|[+-]\d\d:?\d\d)?", stamp)
    y, mo, d, h, mi, s, frac, zone = m.groups()
    base = dt.datetime(int(y), int(mo), int(d), tzinfo=dt.timezone.utc)
    t = base + dt.timedelta(hours=int(h), minutes=int(mi), seconds=int(s))
    if zone and zone != "Z":
        z = zone.replace(":", "")
        t -= (1 if z[0] == "+" else -1) * dt.timedelta(hours=int(z[1:3]), minutes=int(z[3:5]))
    seconds = (t - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(seconds=1)
    return seconds * 1_000_000_000 + int(((frac or "") + "0" * 9)[:9])


# Stamps of one length (28 characters) but different fraction and zone shapes.
SAME_LENGTH = [
    "2024-05-14T12:00:01.123+0200",
    "2024-05-14T12:00:01,1234567Z",
    "2024-05-14T12:00:01.12-05:30",
    "2024-05-14 23:59:59.99+00:00",
]


@pytest.mark.parametrize("stamps", [STAMPS, SAME_LENGTH], ids=["mixed_lengths", "one_length"])
def test_iso_stamps_of_every_shape_are_read_exactly(tmp_path, stamps):
    p = tmp_path / "app.log"
    p.write_text("".join(f"{s} INFO [main] a.B - row {i}\n" for i, s in enumerate(stamps)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = ob.load(str(p))
    assert ob.load_info(df).n_rejected == 0
    got = {int(e.split()[1]): t.value for e, t in zip(df["event"], df["time"])}
    assert got == {i: expected_ns(s) for i, s in enumerate(stamps)}


def test_impossible_stamps_are_rejected_with_their_lines(tmp_path):
    p = tmp_path / "app.log"
    lines = [f"{s} INFO [main] a.B - bad {i}" for i, s in enumerate(IMPOSSIBLE)]
    lines.insert(3, "2024-05-14 12:00:00,000 INFO [main] a.B - good")
    p.write_text("\n".join(lines) + "\n")
    df = load_quiet(p)
    assert list(df["event"]) == ["good"]
    assert list(df["time"]) == [pd.Timestamp("2024-05-14T12:00:00Z")]
    rej = ob.rejected(df)
    assert list(rej["line"]) == [i + 1 for i in range(len(lines)) if i != 3]
    assert set(rej["reason"]) == {"unparseable timestamp (impossible date)"}
    assert list(rej["raw"]) == [ln for i, ln in enumerate(lines) if i != 3]


def test_zoned_and_zoneless_stamps_in_tz(tmp_path):
    """tz= reads the zone-less stamps as local time (summer and winter offsets); a stamp's own zone wins."""
    p = tmp_path / "app.log"
    p.write_text("2024-07-01 12:00:00,000 INFO [m] a.B - summer\n"
                 "2024-01-15 12:00:00.250 INFO [m] a.B - winter\n"
                 "2024-07-01T12:00:00-04:00 INFO [m] a.B - own zone\n")
    df = load_quiet(p, tz="Europe/Berlin")
    assert list(df["time"]) == [pd.Timestamp("2024-07-01T10:00:00Z"), pd.Timestamp("2024-01-15T11:00:00.250Z"),
                                pd.Timestamp("2024-07-01T16:00:00Z")]

"""Supercomputer RAS/event logs: BlueGene/L, Thunderbird-style syslog under an epoch prefix, LANL HPC."""

from __future__ import annotations

import warnings

import pandas as pd

import obsnb as ob
from conformance import ConformanceSuite, vals
from obsnb.registry import sniff

GOOD = (
    b"- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 RAS KERNEL INFO "
    b"instruction cache parity error corrected\n"
    b"KERNDTLB 1118536327 2005.06.11 R30-M0-N9-C:J16-U01 2005-06-11-17.32.07.581048 R30-M0-N9-C:J16-U01 RAS KERNEL "
    b"FATAL data TLB error interrupt\n"
    b"- 1131566461 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228 crond(pam_unix)[2915]: session closed for user root\n"
    b"134681 node-246 unix.hw state_change.unavailable 1077804742 1 Component State Change: Component is unavailable\n"
    b"2286759 full partition status 1060340885 -1 running\n"
)
MESSY = b"junk\n- 1117838570 2005.06.03 NULL 2005-06-03-15.42.50.675872 NULL RAS MMCS ERROR x\n\xff\n- 11178"


class TestRasConformance(ConformanceSuite):
    fmt = "ras"
    kind = "logs"
    suffix = ".log"
    good = GOOD
    good_rows = 5
    messy = MESSY
    messy_good = 1
    messy_bad = 3
    first_bad_line = 1


def test_ras_shapes_give_epoch_time_level_and_fields(tmp_path):
    """Time is the epoch column (UTC); BGL levels map (FATAL -> CRITICAL); Thunderbird's syslog part is split."""
    p = tmp_path / "ras.log"
    p.write_bytes(GOOD)
    assert sniff(GOOD, str(p)) == "ras"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = ob.load(str(p))
    assert list(df["time"]) == [pd.Timestamp(x, unit="s", tz="UTC") for x in
                                (1117838570, 1118536327, 1131566461, 1077804742, 1060340885)]
    assert vals(df["level"]) == ["INFO", "CRITICAL", None, None, None]
    assert list(df["layout"]) == ["bgl", "bgl", "thunderbird", "hpc", "hpc"]
    assert list(df["event"]) == ["instruction cache parity error corrected", "data TLB error interrupt",
                                 "session closed for user root", "Component State Change: Component is unavailable",
                                 "running"]
    assert vals(df["label"]) == ["-", "KERNDTLB", "-", None, None]
    assert (df["component"][2], df["pid"][2], df["location"][2]) == ("crond(pam_unix)", 2915, "dn228/dn228")
    assert vals(df["flag"]) == [None, None, None, 1, -1]
    assert df["wall_time"][0] == "2005-06-03-15.42.50.675872"

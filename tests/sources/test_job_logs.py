"""Log formats of job systems and servers an on-call engineer meets, loaded without being named.

Each sample is written here by hand in the format's documented shape (none is the bundled sample's). The
expected rows are computed from the same lines with plain Python (``str.split``, ``re`` and ``datetime``),
never with obsnb: the time exactly (to the written digit), the format's own level word, letter or character
mapped as the format documents it, the message and the obvious fields.
"""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest

import obsnb as ob
from conformance import load_quiet

UTC = dt.timezone.utc


def ns(stamp: str, fmt: str, frac: str = "", offset_min: int = 0) -> pd.Timestamp:
    """A written stamp -> UTC nanoseconds (the fraction's digits as written, the offset in minutes)."""
    t = dt.datetime.strptime(stamp, fmt).replace(tzinfo=UTC) - dt.timedelta(minutes=offset_min)
    return pd.Timestamp(t) + pd.Timedelta(int((frac + "000000000")[:9] or 0), "ns")


def write(tmp_path, name: str, lines: list[str]) -> str:
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n")
    return str(p)


def check(df: pd.DataFrame, expected: list[dict]) -> None:
    assert len(df) == len(expected)
    for col in expected[0]:
        got = df[col].tolist()
        want = [e[col] for e in expected]
        assert [None if pd.isna(g) else g for g in got] == want, col


CELERY = [
    "[2026-05-08 14:20:00,001: INFO/MainProcess] Connected to redis://localhost:6379/0",
    "[2026-05-08 14:20:01,100: INFO/MainProcess] Task app.tasks.send_report[5b7c1c1e-9d0a-4a57-8f43-2f0e0d3a6b11] received",
    "[2026-05-08 14:20:01,123: ERROR/ForkPoolWorker-2] Task app.tasks.send_report[5b7c1c1e-9d0a-4a57-8f43-2f0e0d3a6b11]"
    " raised unexpected: ConnectionError('timed out')",
    "Traceback (most recent call last):",
    '  File "/usr/lib/python3/site-packages/celery/app/trace.py", line 451, in trace_task',
    "    R = retval = fun(*args, **kwargs)",
    "ConnectionError: timed out",
    "[2026-05-08 14:20:02,500: WARNING/ForkPoolWorker-1] Retry in 10s: TimeoutError()",
    "[2026-05-08 14:20:03,000: DEBUG/MainProcess] basic.qos: prefetch_count->8",
    "[2026-05-08 14:20:04,000: CRITICAL/MainProcess] Unrecoverable error: OSError()",
]
PY_LEVELS = {"DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "WARNING", "ERROR": "ERROR", "CRITICAL": "CRITICAL"}


def test_celery_worker_log(tmp_path):
    df = load_quiet(write(tmp_path, "worker.log", CELERY))
    exp = []
    for i, ln in enumerate(CELERY, start=1):
        m = re.match(r"\[(\S+ \S+?),(\d+): (\w+)/([^\]]+)\] (.*)", ln)
        if m:
            unit = re.match(r"Task ([\w.]+)\[([0-9a-f-]{36})\]", m[5])
            exp.append({"time": ns(m[1], "%Y-%m-%d %H:%M:%S", m[2]), "level": PY_LEVELS[m[3]], "process": m[4],
                        "event": m[5], "_line": i, "exception": None, "task": unit and unit[1],
                        "task_id": unit and unit[2]})
        else:
            exp[-1]["exception"] = ln if exp[-1]["exception"] is None else exp[-1]["exception"] + "\n" + ln
    check(df, exp)
    assert not len(ob.rejected(df))


#: the level words Sidekiq and Ruby's Logger write, mapped the usual way (WARN -> WARNING, FATAL -> CRITICAL)
RUBY_LEVELS = {"DEBUG": "DEBUG", "INFO": "INFO", "WARN": "WARNING", "ERROR": "ERROR", "FATAL": "CRITICAL"}

SIDEKIQ = [
    "2026-05-08T14:20:01.123Z pid=1234 tid=ouw2a4k class=HardWorker jid=b4a577edbccf1d805744efa9 INFO: start",
    "2026-05-08T14:20:01.223Z pid=1234 tid=ouw2a4k class=HardWorker jid=b4a577edbccf1d805744efa9 elapsed=0.1 INFO: done",
    "2026-05-08T14:20:02.001Z pid=1234 tid=ouw2b9c class=MailerJob jid=0a1b2c3d4e5f60718293a4b5 elapsed=2.35 WARN: fail",
    "2026-05-08T14:20:05.000Z pid=1234 tid=ouw1xyz ERROR: Error fetching job: Redis::CannotConnectError",
    "2026-05-08T14:20:06.500Z pid=1234 tid=ouw1xyz DEBUG: heartbeat",
]


def test_sidekiq_log(tmp_path):
    df = load_quiet(write(tmp_path, "sidekiq.log", SIDEKIQ))
    exp = []
    for i, ln in enumerate(SIDEKIQ, start=1):
        head, msg = ln.split(": ", 1)
        words = head.split(" ")
        stamp, frac = words[0][:-1].split(".")
        pairs = dict(w.split("=", 1) for w in words[1:-1])
        exp.append({"time": ns(stamp, "%Y-%m-%dT%H:%M:%S", frac), "level": RUBY_LEVELS[words[-1]], "event": msg,
                    "pid": int(pairs["pid"]), "tid": pairs["tid"], "class": pairs.get("class"),
                    "jid": pairs.get("jid"), "elapsed": float(pairs["elapsed"]) if "elapsed" in pairs else None,
                    "_line": i})
    check(df, exp)


AIRFLOW = [
    "[2026-05-08, 14:20:01 UTC] {taskinstance.py:1234} INFO - Dependencies all met for dep_context=non-requeueable",
    "[2026-05-08, 14:20:02 UTC] {taskinstance.py:1456} ERROR - Task failed with exception",
    "Traceback (most recent call last):",
    '  File "/opt/airflow/dags/etl.py", line 12, in extract',
    'ValueError: no rows',
    "[2026-05-08, 14:20:03 UTC] {local_task_job_runner.py:234} WARNING - Task exited with return code 1",
]
AIRFLOW_OLD = [
    "[2026-05-08 14:20:01,123] {taskinstance.py:1234} INFO - Starting attempt 1 of 3",
    "[2026-05-08 14:20:09,789] {taskinstance.py:1150} ERROR - Task failed",
    "[2026-05-08 14:20:10,001] {logging_mixin.py:112} WARNING - /opt/airflow/dags/etl.py:3 DeprecationWarning: old",
]


@pytest.mark.parametrize("tz", [None, "Europe/Berlin"])
def test_airflow_task_log_with_a_named_zone(tmp_path, tz):
    """The stamp names UTC: tz= (for zone-less times) does not move it, and no zone warning is given."""
    path = write(tmp_path, "attempt=1.log", AIRFLOW)
    df = load_quiet(path, **({"tz": tz} if tz else {}))
    exp = []
    for i, ln in enumerate(AIRFLOW, start=1):
        m = re.match(r"\[(\d{4}-\d\d-\d\d), (\d\d:\d\d:\d\d) UTC\] \{([^:]+):(\d+)\} (\w+) - (.*)", ln)
        if m:
            exp.append({"time": ns(f"{m[1]} {m[2]}", "%Y-%m-%d %H:%M:%S"), "level": PY_LEVELS[m[5]], "file": m[3],
                        "lineno": int(m[4]), "event": m[6], "_line": i})
    check(df, exp)
    assert ob.load_info(df).warnings == []
    assert df["exception"].tolist()[1] == "\n".join(AIRFLOW[2:5])


def test_airflow_older_task_log_zone_less_follows_tz(tmp_path):
    path = write(tmp_path, "1.log", AIRFLOW_OLD)
    for tz, offset in ((None, 0), ("Europe/Berlin", 120)):  # CEST in May: UTC+2
        df = load_quiet(path, **({"tz": tz} if tz else {}))
        exp = []
        for i, ln in enumerate(AIRFLOW_OLD, start=1):
            m = re.match(r"\[(\S+ \S+),(\d+)\] \{([^:]+):(\d+)\} (\w+) - (.*)", ln)
            exp.append({"time": ns(m[1], "%Y-%m-%d %H:%M:%S", m[2], offset), "level": PY_LEVELS[m[5]], "file": m[3],
                        "lineno": int(m[4]), "event": m[6], "_line": i})
        check(df, exp)
        assert any("no time zone" in w for w in ob.load_info(df).warnings) == (tz is None)


RUBY = [
    "I, [2026-05-08T14:20:01.123456 #1234]  INFO -- worker: Starting job 42",
    "W, [2026-05-08T14:20:02.000001 #1234]  WARN -- worker: slow response 2.3s",
    "E, [2026-05-08T14:20:03.500000 #1234] ERROR -- worker: job 42 failed",
    "D, [2026-05-08T14:20:04.000100 #1235] DEBUG -- : cache miss",
    "F, [2026-05-08T14:20:05.999999 #1234] FATAL -- worker: giving up",
]


def test_ruby_logger(tmp_path):
    df = load_quiet(write(tmp_path, "production.log", RUBY))
    exp = []
    for i, ln in enumerate(RUBY, start=1):
        head, rest = ln.split("] ", 1)
        stamp, pid = head[4:].split(" #")
        word, rest = rest.strip().split(" -- ", 1)
        prog, msg = rest.split(": ", 1)
        exp.append({"time": ns(stamp[:19], "%Y-%m-%dT%H:%M:%S", stamp[20:]), "level": RUBY_LEVELS[word], "pid": int(pid),
                    "program": prog or None, "event": msg, "_line": i})
    check(df, exp)


GO = [
    "2026/05/08 14:20:01 starting server on :8080",
    "2026/05/08 14:20:02.123456 connection from 10.0.0.5",
    "2026/05/08 14:20:03 main.go:42: listen tcp :8080: bind: address already in use",
    "2026/05/08 14:20:04.000001 /home/dev/src/srv/server.go:117: http: TLS handshake error from 10.0.0.9:51234: EOF",
]


def test_go_standard_log_has_no_level(tmp_path):
    df = load_quiet(write(tmp_path, "server.log", GO))
    exp = []
    for i, ln in enumerate(GO, start=1):
        date, clock, rest = ln.split(" ", 2)
        sec, _, frac = clock.partition(".")
        m = re.match(r"(\S+\.go):(\d+): (.*)", rest)
        exp.append({"time": ns(f"{date} {sec}", "%Y/%m/%d %H:%M:%S", frac), "level": None,
                    "file": m[1] if m else None, "lineno": int(m[2]) if m else None,
                    "event": m[3] if m else rest, "_line": i})
    check(df, exp)


POSTGRES = [
    "2026-05-08 14:20:01.123 UTC [1234] LOG:  database system is ready to accept connections",
    '2026-05-08 14:20:02.456 UTC [2345] ERROR:  relation "x" does not exist at character 15',
    "2026-05-08 14:20:02.456 UTC [2345] STATEMENT:  SELECT * FROM x;",
    "2026-05-08 14:20:03.789 UTC [2346] app@shop WARNING:  there is no transaction in progress",
    '2026-05-08 14:20:04.000 UTC [2347] FATAL:  password authentication failed for user "app"',
    "2026-05-08 14:20:04.001 UTC [2346] app@shop DEBUG2:  StartTransaction",
    "2026-05-08 14:20:04.002 UTC [2347] DETAIL:  Connection matched pg_hba.conf line 99",
    '2026-05-08 14:20:05.100 UTC [1234] PANIC:  could not write to file "pg_wal/xlogtemp.1234": No space left',
]


@pytest.mark.parametrize("tz", [None, "America/New_York"])
def test_postgresql_log_with_secondary_lines(tmp_path, tz):
    """``STATEMENT:``/``DETAIL:`` lines join the record above of the same pid (not the line above)."""
    df = load_quiet(write(tmp_path, "postgresql-2026-05-08.log", POSTGRES), **({"tz": tz} if tz else {}))
    levels = {"LOG": "INFO", "ERROR": "ERROR", "WARNING": "WARNING", "FATAL": "CRITICAL", "PANIC": "CRITICAL",
              "DEBUG2": "DEBUG"}
    exp, last = [], {}
    for i, ln in enumerate(POSTGRES, start=1):
        m = re.match(r"(\S+ \S+)\.(\d+) UTC \[(\d+)\] (?:(\w+)@(\w+) )?([A-Z0-9]+):  (.*)", ln)
        if m[6] in ("STATEMENT", "DETAIL"):
            last[m[3]][m[6].lower()] = m[7]
            continue
        row = {"time": ns(m[1], "%Y-%m-%d %H:%M:%S", m[2]), "level": levels[m[6]], "pid": int(m[3]),
               "user": m[4], "database": m[5], "event": m[7], "statement": None, "detail": None, "_line": i}
        exp.append(row)
        last[m[3]] = row
    check(df, exp)
    info = ob.load_info(df)
    assert info.records_read == len(exp) and info.warnings == []


def test_an_unreadable_zone_abbreviation_is_said(tmp_path):
    lines = ["2026-05-08 14:20:01.123 CEST [1234] LOG:  checkpoint starting: time"]
    df = load_quiet(write(tmp_path, "pg.log", lines), tz="Europe/Berlin")
    assert df["time"].tolist() == [ns("2026-05-08 14:20:01", "%Y-%m-%d %H:%M:%S", "123", 120)]
    assert any("(CEST)" in w and "not read" in w for w in ob.load_info(df).warnings)


MYSQL = [
    "2026-05-08T14:20:01.123456Z 0 [System] [MY-010116] [Server] /usr/sbin/mysqld (mysqld 8.0.36) starting as process 1",
    "2026-05-08T14:20:01.234567Z 0 [Warning] [MY-010055] [Server] IP address 'x' could not be resolved",
    "2026-05-08T14:20:02.345678Z 8 [ERROR] [MY-012592] [InnoDB] Operating system error number 28 in a file operation.",
    "2026-05-08T14:20:03.000001Z 0 [Note] [MY-010914] [Server] Aborted connection 8 to db",
]


def test_mysql8_error_log(tmp_path):
    df = load_quiet(write(tmp_path, "error.log", MYSQL))
    levels = {"System": "INFO", "Warning": "WARNING", "ERROR": "ERROR", "Note": "INFO"}
    exp = []
    for i, ln in enumerate(MYSQL, start=1):
        stamp, tid, lvl, code, sub, msg = re.match(r"(\S+) (\d+) \[(\w+)\] \[(\S+)\] \[(\w+)\] (.*)", ln).groups()
        exp.append({"time": ns(stamp[:19], "%Y-%m-%dT%H:%M:%S", stamp[20:-1]), "level": levels[lvl], "tid": int(tid),
                    "code": code, "subsystem": sub, "event": msg, "_line": i})
    check(df, exp)


REDIS = [
    "1234:C 08 May 2026 14:20:01.123 # oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo",
    "1234:M 08 May 2026 14:20:01.125 * Ready to accept connections",
    "1234:M 08 May 2026 14:20:03.000 . Client closed connection",
    "1234:M 08 May 2026 14:20:04.010 - Accepted 127.0.0.1:50000",
    "5678:S 08 May 2026 14:20:05.999 * MASTER <-> REPLICA sync started",
]


def test_redis_log(tmp_path):
    df = load_quiet(write(tmp_path, "redis-server.log", REDIS))
    marks = {".": "DEBUG", "-": "DEBUG", "*": "INFO", "#": "WARNING"}  # debug, verbose, notice, warning
    exp = []
    for i, ln in enumerate(REDIS, start=1):
        pidrole, d, mon, y, clock, mark, msg = ln.split(" ", 6)
        pid, role = pidrole.split(":")
        sec, frac = clock.split(".")
        exp.append({"time": ns(f"{d} {mon} {y} {sec}", "%d %b %Y %H:%M:%S", frac), "level": marks[mark],
                    "level_original": mark, "pid": int(pid), "role": role, "event": msg, "_line": i})
    check(df, exp)


def test_cron_in_syslog(tmp_path):
    lines = ["May  8 14:20:01 host1 CRON[1234]: (root) CMD (/usr/local/bin/backup.sh)",
             "May  8 14:20:01 host1 CRON[1235]: (www-data) CMD (php /var/www/cron.php > /dev/null 2>&1)"]
    df = load_quiet(write(tmp_path, "syslog", lines), year=2026)
    exp = []
    for i, ln in enumerate(lines, start=1):
        stamp, host, tag, msg = ln[:15], *ln[16:].split(" ", 2)
        exp.append({"time": ns("2026 " + stamp, "%Y %b %d %H:%M:%S"), "level": None, "host": host,
                    "service": tag.split("[")[0], "pid": tag.split("[")[1].rstrip("]:"), "event": msg, "_line": i})
    check(df, exp)


def test_journalctl_short_iso_and_short_precise(tmp_path):
    iso = ["2026-05-08T14:20:01+0000 host1 systemd[1]: Started Daily apt upgrade.",
           "2026-05-08T16:20:02+0200 host1 sshd[4321]: Accepted publickey for deploy from 10.0.0.4 port 51000"]
    precise = ["May 08 14:20:01.123456 host1 systemd[1]: Starting Cleanup of Temporary Directories...",
               "May 08 14:20:02.000001 host1 myapp[777]: cannot open config",
               "May 08 14:20:03.999999 host1 kernel: eth0: link up"]
    df = load_quiet(write(tmp_path, "iso.log", iso))
    exp = []
    for i, ln in enumerate(iso, start=1):
        stamp, host, tag, msg = ln.split(" ", 3)
        off = int(stamp[-5:-2]) * 60
        exp.append({"time": ns(stamp[:19], "%Y-%m-%dT%H:%M:%S", "", off), "host": host, "service": tag.split("[")[0],
                    "event": msg, "_line": i})
    check(df, exp)
    df = load_quiet(write(tmp_path, "precise.log", precise), year=2026)
    exp = []
    for i, ln in enumerate(precise, start=1):
        mon, d, clock, host, tag, msg = ln.split(" ", 5)
        sec, frac = clock.split(".")
        pid = re.search(r"\[(\d+)\]", tag)
        exp.append({"time": ns(f"2026 {mon} {d} {sec}", "%Y %b %d %H:%M:%S", frac), "host": host,
                    "service": tag.split("[")[0].rstrip(":"), "pid": int(pid[1]) if pid else None, "event": msg,
                    "_line": i})
    check(df, exp)


GITHUB = [
    "2026-05-08T14:20:01.1234567Z ##[group]Run actions/checkout@v4",
    "2026-05-08T14:20:01.2234567Z with:",
    "2026-05-08T14:20:01.3234567Z ##[endgroup]",
    "2026-05-08T14:20:05.0000001Z npm ERR! code ELIFECYCLE",
    "2026-05-08T14:20:05.1000000Z ##[warning]Node.js 16 actions are deprecated.",
    "2026-05-08T14:20:05.9876543Z ##[error]Process completed with exit code 1.",
]
GITLAB = [
    "2026-05-08T14:20:01.123456Z 00O Running with gitlab-runner 16.9.1 (782c6ecb)",
    "2026-05-08T14:20:02.234567Z 01O $ make test",
    "2026-05-08T14:20:03.345678Z 01E make: *** [test] Error 1",
    "2026-05-08T14:20:04.456789Z 00O ERROR: Job failed: exit code 1",
]


def test_github_actions_job_log(tmp_path):
    df = load_quiet(write(tmp_path, "build.txt", GITHUB))
    markers = {"error": "ERROR", "warning": "WARNING"}  # the levels; group/endgroup are none
    exp = []
    for i, ln in enumerate(GITHUB, start=1):
        stamp, msg = ln.split(" ", 1)
        m = re.match(r"##\[(error|warning)\](.*)", msg)
        exp.append({"time": ns(stamp[:19], "%Y-%m-%dT%H:%M:%S", stamp[20:-1]),
                    "level": markers[m[1]] if m else None, "event": m[2] if m else msg, "_line": i})
    check(df, exp)


def test_gitlab_runner_job_log(tmp_path):
    df = load_quiet(write(tmp_path, "job.log", GITLAB))
    exp = []
    for i, ln in enumerate(GITLAB, start=1):
        stamp, tag, msg = ln.split(" ", 2)
        exp.append({"time": ns(stamp[:19], "%Y-%m-%dT%H:%M:%S", stamp[20:-1]), "level": None,
                    "stream": {"O": "stdout", "E": "stderr"}[tag[2]], "stream_id": tag[:2], "event": msg, "_line": i})
    check(df, exp)


def test_a_utc_stamp_past_the_head_is_not_moved_by_tz(tmp_path):
    """The zone name is honoured wherever the line is: 60 zone-less lines first (the head shows no zone name)."""
    lines = [f"2026/05/08 10:{i:02d}:00 tick {i}" for i in range(60)]
    lines.append("2026-05-08 14:20:01.123 UTC [77] LOG:  the database's own stamp")
    df = load_quiet(write(tmp_path, "mixed.log", lines), tz="Europe/Berlin")  # CEST, UTC+2
    want = [ns(ln[:19], "%Y/%m/%d %H:%M:%S", "", 120) for ln in lines[:60]]
    want.append(ns(lines[60][:19], "%Y-%m-%d %H:%M:%S", "123"))
    assert df["time"].tolist() == want
    assert df["event"].tolist()[-1] == "the database's own stamp"


def test_airflow_task_log_with_an_iso_offset(tmp_path):
    lines = ["[2026-05-08T14:20:01.123+0000] {taskinstance.py:1234} INFO - Starting attempt 1 of 3",
             "[2026-05-08T16:20:02.456+0200] {taskinstance.py:1150} ERROR - Task failed"]
    df = load_quiet(write(tmp_path, "attempt=2.log", lines))
    exp = []
    for i, ln in enumerate(lines, start=1):
        m = re.match(r"\[(\S+)\.(\d+)([+-]\d\d)(\d\d)\] \{([^:]+):(\d+)\} (\w+) - (.*)", ln)
        off = int(m[3]) * 60 + int(m[4])
        exp.append({"time": ns(m[1], "%Y-%m-%dT%H:%M:%S", m[2], off), "level": PY_LEVELS[m[7]], "file": m[5],
                    "lineno": int(m[6]), "event": m[8], "_line": i})
    check(df, exp)
    assert ob.load_info(df).warnings == []

"""The unit of work and the entities, named in many systems' words, detected without hints.

Each test writes the log file a user of that system would have (in tmp_path) and asks ``ob.investigate`` what it
read. Expected values come from how the file is built here: which column holds the units, which unit was retried
how often."""

from __future__ import annotations

import datetime as dt
import json
import warnings

import pytest

import obsnb as ob

T0 = dt.datetime(2026, 9, 22, 8, 0, tzinfo=dt.timezone.utc)
WINDOW = {"start": "2026-09-22T09:00Z", "end": "2026-09-22T11:00Z"}


def at(sec: float) -> str:
    return (T0 + dt.timedelta(seconds=sec)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def investigate(tmp_path, records, **hints):
    f = tmp_path / "app.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in sorted(records, key=lambda r: r["time"])))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ob.investigate(ob.load(str(f)), None, None, **WINDOW, **hints)


def units(column: str, n: int = 30, every: int = 300, extra=None) -> list[dict]:
    """``n`` units, one every ``every`` s from T0, each started, worked on and finished within 20 s by one of
    three workers; ``extra(i)`` adds fields to every row of unit i."""
    out = []
    for i in range(n):
        s = i * every
        for k, (ev, d) in enumerate((("task started", 0), ("step done", 5), ("task finished", 20))):
            out.append({"time": at(s + d), "level": "INFO", "event": ev, "worker": f"w-{i % 3}",
                        column: f"u-{i:04d}", **(extra(i) if extra else {})})
    return out


UNIT_COLUMNS = ["run", "run_id", "key", "job", "job_id", "task_id", "jid", "execution_id", "k8s.job.name",
                "dag_run_id", "messaging.message.id"]


@pytest.mark.parametrize("column", UNIT_COLUMNS)
def test_unit_key_named_in_many_systems_words(tmp_path, column):
    """30 units in `column`, three rows each, each living 20 s of a 2.5 h log: that column is the unit of work,
    its start/finish events the ones written for it, and the reading says so."""
    found = investigate(tmp_path, units(column))
    r = found.reading
    assert (r.key, r.started, r.succeeded) == (column, ["task started"], ["task finished"])
    assert json.loads(found.to_json())["reading"]["key"] == column
    assert "named like a unit-of-work id" in r.why["key"]


def test_a_constant_is_no_unit(tmp_path):
    """`job` holds one value on every row: it names no unit; the units are in `task_id`."""
    found = investigate(tmp_path, units("task_id", extra=lambda i: {"job": "nightly-export"}))
    assert found.reading.key == "task_id"
    assert "`job` (one value)" in found.reading.why["key"]


def test_one_row_per_request_id_is_no_unit(tmp_path):
    """A near-unique `request_id` (one row each) names no unit that starts, retries or finishes: no key at all."""
    rows = [{"time": at(i * 7), "level": "INFO", "event": "request served", "request_id": f"r-{i:06d}",
             "worker": f"w-{i % 3}"} for i in range(1200)]
    found = investigate(tmp_path, rows)
    assert found.reading.key is None
    assert "`request_id` (0% of its values on more than one row)" in found.reading.why["key"]
    assert found.of("retry_storm", "stall") == []


def test_a_name_seen_all_along_is_a_kind_of_work_not_a_unit(tmp_path):
    """Airflow's words: `dag_id` and `task_id` name the DAG and its tasks (each seen from the first run to the last:
    kinds of work), `run_id` one run, `try_number` its attempt. The unit is `run_id`."""
    rows = []
    for i in range(30):
        s = i * 300
        for k, task in enumerate(("extract", "load")):
            for ev, d in (("task started", 0), ("task finished", 20)):
                rows.append({"time": at(s + 30 * k + d), "level": "INFO", "event": ev, "dag_id": "daily_sales",
                             "task_id": task, "run_id": f"scheduled__{i:04d}", "try_number": 1, "hostname": f"w-{i % 3}"})
    r = investigate(tmp_path, rows).reading
    assert r.key == "run_id"
    assert "not a unit: `task_id` (a value lasts 100% of the evidence" in r.why["key"]
    assert r.entity[0] == "hostname"


def test_the_attempt_column_says_which_id_is_retried(tmp_path):
    """A run uploads 10 parts (`run`, `key`, `attempt` as a batch exporter logs them): every part is stored at
    attempt 1 except part-0003 of run 12, throttled 8 times and stored at attempt 9. `attempt` counts the attempts
    of `key`, not of `run`: the unit is `key`, and its retry storm has 9 attempts."""
    rows = []
    for i in range(30):
        s = i * 300
        rows.append({"time": at(s), "level": "INFO", "event": "run begin", "run": f"r-{i:04d}", "host": f"exp-{i % 3}"})
        t = s + 1
        for p in range(10):
            key = f"r-{i:04d}/part-{p:04d}"
            tries = 9 if (i, p) == (12, 3) else 1
            for a in range(1, tries + 1):
                t += 1
                ev, lvl = ("part stored", "INFO") if a == tries else ("objstore throttled", "WARNING")
                rows.append({"time": at(t), "level": lvl, "event": ev, "run": f"r-{i:04d}", "key": key,
                             "attempt": a, "host": f"exp-{i % 3}", **({"status": 503} if a < tries else {})})
        rows.append({"time": at(t + 1), "level": "INFO", "event": "run finished", "run": f"r-{i:04d}",
                     "host": f"exp-{i % 3}"})
    found = investigate(tmp_path, rows)
    assert found.reading.key == "key"
    assert "the `attempt` column counts its attempts (also a unit: `run`)" in found.reading.why["key"]
    storms = [(f.entity_value, f.numbers["attempts"]) for f in found.of("retry_storm")]
    assert storms == [("r-0012/part-0003", 9)]


def test_a_hint_overrides_the_unit_key(tmp_path):
    found = investigate(tmp_path, units("run", extra=lambda i: {"job_id": f"j-{i // 2:04d}"}), key="job_id")
    r = found.reading
    assert r.key == "job_id" and "key" in r.given
    assert r.table().filter(r.table()["assumption"] == "key").row(0) == ("key", "job_id", "given")


@pytest.mark.parametrize("column", ["runner_name", "k8s.node.name", "host.id", "hostname", "consumer_id"])
def test_entities_named_in_many_systems_words(tmp_path, column):
    """A GitHub Actions runner, a Kubernetes node, ...: the column naming where the work ran is an entity."""
    rows = [{(column if k == "worker" else k): v for k, v in r.items()} for r in units("run_id")]
    assert investigate(tmp_path, rows).reading.entity[0] == column

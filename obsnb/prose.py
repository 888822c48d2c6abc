"""Findings as prose: the template-level steps that turn ``ob.investigate``'s findings into sections.

Every sentence is a finding's summary or is made from a finding's numbers; a section with no finding
says what was looked at. Nothing here knows any one incident's services or events.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .display import _markdown, _pd, _print, _text, show
from .investigation.context import pct, pick_every
from .investigation.findings import dur_arg, fmt_duration, fmt_time

__all__ = ["section", "evidence", "headline", "no_error_chart", "gaps_frame", "timeline_frame", "action_items", "root_cause", "recovery",
           "audit_table", "bucket", "entity_of", "work_title", "detection", "log_columns", "why_this_trace",
           "findings_about_trace"]

_SECTION_NONE = {
    "error_spike": "No rise in the error rate against the baseline ({looked}).",
    "degraded_dependency": "No dependency failed or slowed down against the baseline ({looked}).",
    "latency_regression": "No operation got slower against the baseline ({looked}).",
    "silence": "No entity went silent beyond its usual cadence ({looked}).",
    "stall": "No unit of work was left unfinished ({looked}).",
    "retry_storm": "No unit of work was retried again and again ({looked}).",
    "change": "No deploy, config change, restart or version change in the evidence ({looked}).",
    "first_error": "No error in the window ({looked}).",
    "new_pattern": "No new message template in the window ({looked}).",
    "suspect": "No attribute value stands out among the errors ({looked}).",
    "telemetry_gap": "Logs, traces and metrics were all loaded, and the logs carry trace ids.",
}


def section(findings, *kinds: str, limit: int = 5) -> None:
    """Print each finding of ``kinds`` as a bullet (its summary), or one line saying nothing was found
    and what was looked at."""
    found = findings.of(*kinds)[:limit]
    if found:
        lines = [f"* {_text(f.summary)}" for f in found]
        more = len(findings.of(*kinds)) - len(found)
        if more > 0:
            lines.append(f"* ... and {more} more (see the findings table).")
    else:
        lines = [_text(_none(findings, k)) for k in kinds]
    _markdown("\n".join(lines))


def _blind(findings):
    """The gap saying the logs carry no level or status (errors could not be counted from them), or None."""
    return next((f for f in findings.of("telemetry_gap") if f.entity_value == "log_levels"), None)


def _none(findings, kind: str) -> str:
    """What a section with no finding of ``kind`` says: what was looked at; for errors, never "no error" when the
    logs could not show one."""
    blind = _blind(findings) if kind in ("error_spike", "first_error") else None
    if blind is None:
        return _SECTION_NONE[kind].format(looked=findings.looked_at.get(kind, "nothing to look at"))
    n = blind.numbers
    spans = n.get("errors_from") == "spans"
    if kind == "error_spike":
        return (f"Errors could not be counted from the logs: none of their {n['log_lines']:,} lines carries a level, "
                "an outcome or a status, and their messages are free text. " +
                ("From the spans' status: no rise in the error rate against the baseline." if spans else
                 "No other evidence of errors was loaded, so this is not a finding of no errors."))
    return ("No first error can be named from the logs (no level, outcome or status on any line); " +
            ("none of the spans in the window has an error status." if spans else "no spans were loaded to read one from."))


def evidence(findings, **sources: Any) -> None:
    """One paragraph: what was loaded (rows, time range), what was not, the window and the baseline."""

    n = findings.evidence
    parts = []
    rejected = n.get("rejected") or {}
    for kind, label in (("logs", "log lines"), ("spans", "spans"), ("metrics", "metric samples")):
        part = f"**{n[kind]:,}** {label}" if n[kind] else f"no {label}"
        if rejected.get(kind):
            part += (f" ({rejected[kind]:,} records read, all rejected)" if not n[kind]
                     else f" ({rejected[kind]:,} more records rejected)")
        parts.append(part)
    w0, w1, how = findings.window
    text = (f"Evidence: {', '.join(parts)}. Window: {fmt_time(w0)} to {fmt_time(w1)} ({how}). "
            f"Baseline: {findings.baseline[2] if findings.baseline else 'none'}.")
    missing = [k for k, v in sources.items() if not v]
    if missing:
        text += f" Not given: {', '.join(missing)}, so nothing below uses that kind of evidence."
    _print(text)


def headline(findings, limit: int = 5) -> None:
    """The summary: the best-ranked findings (not telemetry gaps), one bullet each."""
    top = [f for f in findings if f.kind != "telemetry_gap"][:limit]
    lost = [f for f in findings if f.kind == "telemetry_gap" and (str(f.entity_value).endswith("_rejected")
            and not f.numbers.get("rows_loaded") or f.entity_value == "log_levels")]
    if lost:  # a kind whose every record was rejected: say it before anything read without it
        _markdown("\n".join(f"* {_text(f.summary)}" for f in lost))
    if not top:
        if _blind(findings) is not None:
            _print("No silence, stall, retry storm, slow or failing dependency, or change stands out in the window; "
                   "errors could not be counted from the logs (above).")
        else:
            _print("The evidence shows no error spike, silence, stall, retry storm, slow or failing dependency, "
                   "or change in the window" + (" that was loaded." if lost else "."))
        return
    _markdown("\n".join(f"{i}. {_text(f.summary)}" for i, f in enumerate(top, 1)))


def no_error_chart(findings, log_rows: int) -> str | None:
    """Why the logs' error-rate chart is not drawn (None: draw it): no logs, or logs that carry no level, outcome
    or status (a flat 0% would read as "no errors")."""
    if not log_rows:
        return "No logs were loaded: no error-rate chart."
    if _blind(findings) is not None:
        return "No error-rate chart of the logs: they carry no level, outcome or status to count errors from."
    return None


def gaps_frame(findings, column: str | None = None) -> pd.DataFrame:
    """The silences as an ``ob.gaps``-shaped frame (entity column, gap_start, gap_end, duration), for charts."""
    rows = [{(column or f.entity_column): f.entity_value, "gap_start": pd.Timestamp(f.start, tz="UTC"),
             "gap_end": pd.Timestamp(f.end, tz="UTC")} for f in findings.of("silence")
            if column is None or f.entity_column == column]
    out = pd.DataFrame(rows, columns=[column or "entity", "gap_start", "gap_end"]) if not rows else pd.DataFrame(rows)
    out["duration"] = out["gap_end"] - out["gap_start"]
    return out


def timeline_frame(findings) -> pd.DataFrame:
    """Every finding with a time as a draft timeline row: ``time``, ``end``, ``event``, ``kind``, ``detail``."""
    kind_of = {"change": "change", "first_error": "impact", "error_spike": "impact", "degraded_dependency": "impact",
               "latency_regression": "impact", "silence": "absence", "stall": "impact", "retry_storm": "impact",
               "new_pattern": "signal", "suspect": "signal"}
    rows = []
    for f in findings:
        if f.start is None or f.kind in ("telemetry_gap", "suspect"):
            continue
        who = f"{f.entity_column}={f.entity_value}" if f.entity_column else ""
        rows.append({"time": pd.Timestamp(f.start, tz="UTC"), "end": pd.Timestamp(f.end, tz="UTC") if f.end else pd.NaT,
                     "event": f"{f.kind.replace('_', ' ')} {who}".strip()[:80], "kind": kind_of.get(f.kind, "signal"),
                     "detail": f.summary})
    out = pd.DataFrame(rows, columns=["time", "end", "event", "kind", "detail"])
    return out.sort_values("time", ignore_index=True)


_ACTIONS = {
    "silence": ("detect", "Alert on absence: no {what} from {who} for {minutes} min (it was silent {dur})"),
    "retry_storm": ("fix", "Cap retries of {key} and dead-letter after a few attempts; do not retry {errors} "
                    "({attempts} attempts of {unit})"),
    "stall": ("detect", "Alert on the age of the oldest unfinished {key} (longest wait {dur}); time out attempts"),
    "degraded_dependency": ("fix", "Protect calls to {who}: timeout, circuit breaker, backoff; alert on its "
                            "{metric} ({before} -> {during})"),
    "latency_regression": ("detect", "Alert on p95 of {who} ({before} -> {during})"),
    "error_spike": ("detect", "Alert on the error rate ({during} in the window, {before} before)"),
    "change": ("process", "Roll out changes like {who} behind a canary, with automatic rollback on errors"),
    "telemetry_gap": ("observability", "{fix}"),
}


def action_items(findings, limit: int = 12) -> pd.DataFrame:
    """Action items drafted from the findings (one per finding kind and entity): ``action``, ``type``,
    ``from finding`` (its rank), ``owner`` (empty). A draft to edit, not a decision."""

    rows, seen = [], set()
    for f in findings:
        if f.kind not in _ACTIONS or (f.kind, f.entity_column, f.entity_value) in seen:
            continue
        if f.kind == "change" and f.numbers.get("what") == "restart":
            continue
        seen.add((f.kind, f.entity_column, f.entity_value))
        n = f.numbers
        kind, template = _ACTIONS[f.kind]
        dur = fmt_duration(f.end - f.start) if f.end and f.start else ""
        values = {"who": f"{f.entity_column}={f.entity_value}", "key": f.entity_column, "unit": f.entity_value,
                  "what": n.get("completion_event") or (f"increase of {n['metric']}" if n.get("metric") else "log line"), "minutes": max(1, int(round(n.get("threshold_s", 600) / 60))),
                  "dur": dur, "attempts": n.get("attempts"), "errors": n.get("error_types") or "errors that cannot succeed",
                  "metric": "error rate" if n.get("mode") == "failing" else "p95 latency",
                  "before": pct(n.get("error_rate_before")) if n.get("mode") == "failing" else _ms(n.get("p95_before_ms")),
                  "during": pct(n.get("error_rate_during")) if n.get("mode") == "failing" else _ms(n.get("p95_during_ms")),
                  "summary": f.summary, "fix": n.get("fix") or f.summary}
        if f.kind == "error_spike":
            values.update(before=pct(n.get("error_rate_before")), during=pct(n.get("error_rate_during")))
        if f.kind == "stall":
            values["dur"] = fmt_duration(n.get("oldest_age_s", 0) * 1e9)
        rows.append({"action": template.format(**values), "type": kind, "from finding": f.rank, "owner": ""})
        if len(rows) >= limit:
            break
    return pd.DataFrame(rows, columns=["action", "type", "from finding", "owner"])


def _ms(v: Any) -> str:
    return "n/a" if v is None else f"{v:,.1f} ms"


def root_cause(findings) -> None:
    """A draft root-cause paragraph, made only from findings: the best-ranked failing or slow dependency (or
    error spike, silence, storm), the change shortly before the first error, and what to confirm."""
    cause = next(iter(findings.of("degraded_dependency")), None) or next(iter(findings.of("silence", "retry_storm", "stall")), None)
    change = [f for f in findings.of("change") if f.numbers.get("what") != "restart"
              and (f.numbers.get("before_first_error_s") or -1) >= 0]
    lines = []
    if cause is None and not change:
        _print("The evidence does not point at a cause: no failing or slow dependency, silence, stall, retry storm or "
               "change was found (see what was looked at above). Write the cause from what you know.")
        return
    if cause is not None:
        lines.append(f"Most likely starting point (draft, confirm it): {cause.summary}")
    if change:
        c = min(change, key=lambda f: f.numbers["before_first_error_s"])
        lines.append(f"The last change before the first error: {c.summary}")
    lines.append("This is a draft drawn from the findings; correlation in time is not proof of cause.")
    _markdown("\n\n".join(_text(x) for x in lines))


def recovery(findings) -> None:
    """When each problem ended, from the findings' own end times (or that it had not ended in the evidence)."""

    lines = []
    for f in findings.of("error_spike", "degraded_dependency", "silence"):
        who = f"`{f.entity_column}` = `{f.entity_value}`" if f.entity_column else "The error rate"
        if f.kind == "silence":
            ended = f.numbers.get("resumed")
            lines.append(f"{who}: {'logged again' if ended else 'had not resumed'} at {fmt_time(f.end)}." if ended
                         else f"{who}: had not resumed by the end of the evidence ({fmt_time(f.end)}).")
        elif f.kind == "degraded_dependency":
            lines.append(f"{who}: its last {'failed' if f.numbers.get('mode') == 'failing' else 'slow'} call was at "
                         f"{fmt_time(f.end)}.")
        else:
            lines.append(f"{who} was last above the baseline in the bucket ending {fmt_time(f.end)}.")
    if not lines:
        _print("No finding has an end to report: nothing was found that needed to recover.")
        return
    _markdown("\n".join(f"* {_text(x)}" for x in lines))


def audit_table(audit) -> None:
    """The audit as a table: each rule's verdict, what it found and the fix (one line when no audit ran)."""
    if audit is None:
        _print("No audit was run.")
        return
    show(audit.frame, columns=["rule", "verdict", "summary", "fix"], max_rows=20,
         caption="How observable the system was, rule by rule (ob.audit)")


def bucket(findings) -> str:
    """The bucket the investigation used for rates (``"5min"``), for the charts to agree with the findings."""

    if findings.reading.every:
        return findings.reading.every

    return dur_arg(pick_every(max(findings.window[1] - findings.window[0], 1)))


def entity_of(findings) -> str | None:
    """The entity column the silences are about (else the first detected entity column)."""
    f = next(iter(findings.of("silence")), None)
    if f is not None:
        return f.entity_column
    return findings.reading.entity[0] if findings.reading.entity else None


def work_title(findings) -> str:
    col = entity_of(findings)
    r = findings.reading
    what = f"{', '.join(r.succeeded)} events" if r.succeeded else "log lines"
    return f"{what} per bucket, by {col} (red: a silence)"


def detection(findings) -> None:
    """How the incident showed itself first: the earliest finding (by start), and whether an absence alert
    could have caught a silence earlier than the errors did."""

    timed = [f for f in findings if f.start is not None and f.kind not in ("telemetry_gap", "change", "suspect", "new_pattern")]
    if not timed:
        _print("Nothing in the window stood out, so there is no first signal to report.")
        return
    first = min(timed, key=lambda f: f.start)
    lines = [f"The earliest signal in the evidence: {first.kind.replace('_', ' ')} at {fmt_time(first.start)}."]
    sil = findings.of("silence")
    err = findings.of("first_error")
    if sil and err and min(f.start for f in sil) < err[0].start:
        s = min(sil, key=lambda f: f.start)
        lines.append(f"A silence began before the first error ({s.entity_column} = {s.entity_value} at {fmt_time(s.start)}): "
                     "only an alert on absence would have seen it.")
    elif sil:
        lines.append("Errors do not show a silence: only an alert on absence sees an entity that stops.")
    _markdown("\n\n".join(_text(x) for x in lines))


def log_columns(timeline: Any, findings) -> list[str]:
    """Columns worth showing for log rows of a timeline: the canonical ones, the unit key, the entity
    columns, and error detail columns that hold values."""
    tl = _pd(timeline)
    base = ["time", "service", "name", "level"]
    r = findings.reading
    extra = [c for c in [*(r.entity or []), r.key, "attempt", "error_type", "error", "error.type", "error.message",
                         "status", "status_message", "duration_ms"] if c]
    logs = tl[tl["source"] == "log"] if "source" in tl else tl
    return [c for c in dict.fromkeys(base + extra) if c in tl.columns and (c in base or logs[c].notna().any())]


def why_this_trace(findings, trace_id: str | None, asked: str | None, why: str | None = None) -> None:
    """One line: why this trace is shown (``why``, from ``obn.trace_choice``), or which finding points at it; nothing
    when the trace was asked for (``obn.trace_status`` speaks then)."""
    if asked:
        return
    if why:
        _print(why)
        return
    if trace_id is None:
        _print("No trace is shown: no finding points at one.")
        return
    for f in findings:
        n = f.numbers
        if trace_id in [*(n.get("trace_ids") or []), n.get("example_trace_id"), n.get("trace_id")]:
            _print(f"Shown because finding {f.rank} ({f.kind.replace('_', ' ')}) points at it.")
            return
    _print("No finding names this trace.")


def findings_about_trace(findings, timeline: Any) -> None:
    """The findings whose entity, or whose trace ids, appear in this trace's rows."""
    if timeline is None:
        _print("No trace.")
        return
    tl = _pd(timeline)
    hits = []
    for f in findings:
        n = f.numbers
        tids = set(n.get("trace_ids") or []) | {n.get("example_trace_id"), n.get("trace_id")}
        in_rows = f.entity_column in tl.columns and (tl[f.entity_column].astype(str) == str(f.entity_value)).any()
        if in_rows or tids & set(tl.get("trace_id", pd.Series(dtype=str)).dropna()):
            hits.append(f)
    if not hits:
        _print("No finding is about this trace's units, entities or ids.")
        return
    _markdown("\n".join(f"* {_text(f.summary)}" for f in hits[:8]))

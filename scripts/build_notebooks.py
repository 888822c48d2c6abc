"""Build the template notebooks in ``obsnb/notebooks/`` from this reviewable source (nbformat).

Run ``python scripts/build_notebooks.py`` after editing; the tests execute the result on several
incidents. Every template is built on ``ob.investigate``: each sentence is a finding's summary or is
made from a finding's numbers, and a section with nothing to report says what was looked at. Cells
call obsnb only; nothing here names one incident's services, events or story. Values written into the
page go through ``obn.md``/``obn.section`` (escaped) or ``obn.show`` (escaped table).
"""

from __future__ import annotations

import pathlib

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

OUT = pathlib.Path(__file__).resolve().parents[1] / "obsnb" / "notebooks"

PARAMETERS = '''\
# Parameters, filled in by papermill or `obsnb new`. A source left as None means: no evidence of that kind.
incident = "incident"
start = None      # window start: ISO time, epoch or now-2h (None: found from the evidence)
end = None
logs = None       # path, glob, directory, URL or obsnb.toml source name of the logs
traces = None     # ... of the spans (OTLP JSON, Jaeger, Zipkin, jaeger://, tempo://)
metrics = None    # ... of the metrics (Prometheus/OpenMetrics text, OTLP, prometheus://)
lookback = "auto" # evidence loaded before `start` as the baseline ("auto": the window's length, 1-24 h)
# What obsnb assumes about the evidence. None: detected (the report shows what was used and why).
entity = None     # column(s) naming what can go silent: "worker", ["host", "pod"], ...
key = None        # column naming one unit of work: "job_id", "task_id", ...
started = None    # event(s) that start an attempt at a unit of work
succeeded = None  # event(s) that finish it
failed = None     # event(s) that fail it
heartbeat = None  # event(s) a live entity logs while it waits
dependency = None # spans/logs column naming the dependency a call goes to
silence = "10min" # shortest silence worth reporting
retry_min_attempts = None  # attempts that make a retry storm (None: from the data, at least 5)
stall_after = None         # age after which an unfinished unit is stalled (None: from the data, at least 15 min)
every = None      # bucket of rates and error rates (None: from the window)
metric_kinds = None  # how to read a metric when its type or name misleads: {"queue_depth": "gauge", "x": "counter"}
lazy = None       # True: read file evidence as scans, out of core (None: when its files pass 1 GiB; False: load it)
'''

LOAD = '''\
import warnings
import obsnb as ob
from obsnb import charts, notebook as obn

obn.setup()   # offline interactive charts live; the report renderer under `obsnb render`
warnings.simplefilter("ignore", FutureWarning)
LOGS, SPANS, METRICS = obn.load_incident(logs, traces, metrics, start=start, end=end, lookback=lookback, lazy=lazy)
HINTS = dict(entity=entity, key=key, started=started, succeeded=succeeded, failed=failed, heartbeat=heartbeat,
             dependency=dependency, silence=silence, retry_min_attempts=retry_min_attempts, stall_after=stall_after,
             every=every)
F = ob.investigate(LOGS, SPANS, METRICS, start=start, end=end, **HINTS)
AUDIT = obn.audit(LOGS, SPANS, METRICS, **HINTS)   # what the telemetry could not tell: telemetry_gap findings
F = F.with_findings(AUDIT.findings())
EVERY = obn.bucket(F)
obn.save_findings(F)   # `obsnb render` writes them beside the report
'''

READING = '''\
obn.md("## How obsnb read this evidence\\n\\nWhat the investigation assumed. Each line is a parameter of this notebook: "
       "when one is wrong, set it (`obsnb render NB -p key=order_id`) and render again.")
obn.show(F.reading.table(), max_rows=20)'''


def code(src: str, *tags: str):
    cell = new_code_cell(src)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def notebook(title_code: str, cells: list, extra_parameters: str = "") -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [code(PARAMETERS + extra_parameters, "parameters"), code(LOAD), code(title_code), *cells]
    return nb


SILENCE_CHART = '''\
W = obn.work_rows(LOGS, F)
obn.draw(charts.rate(W, EVERY, by=obn.entity_of(F), gaps=obn.gaps_frame(F, obn.entity_of(F)), start=F.window_start,
                     end=F.window_end, title=obn.work_title(F)) if obn.rows(W) else None,
         "No entity column or completion event to chart.")'''

DEPENDENCY_CHART = '''\
DEP = next(iter(F.of("degraded_dependency", "latency_regression")), None)
CALLS = obn.calls_of(SPANS, LOGS, DEP) if DEP is not None and DEP.kind == "degraded_dependency" else None
obn.draw(charts.latency(CALLS, every=EVERY, title=f"Call latency of {DEP.entity_value} (ms)")
         if CALLS is not None and obn.rows(CALLS) else None)'''

POSTMORTEM = notebook(
    'obn.md("# Postmortem {incident}\\n\\n*Draft generated by obsnb from the evidence: every sentence below is made from '
    'a finding and its numbers. Edit the prose; re-run to refresh the numbers.*", incident=incident)\n'
    'obn.evidence(F, logs=logs, traces=traces, metrics=metrics)',
    [
        code('obn.md("## Summary")\nobn.headline(F)'),
        code(READING),
        code('obn.md("## Impact")\nobn.section(F, "error_spike")\n'
             'NO_CHART = obn.no_error_chart(F, obn.rows(LOGS))\n'
             'obn.draw(charts.error_rate(LOGS, EVERY, title="Error rate of log lines (obsnb\'s error definition)") '
             'if NO_CHART is None else None, NO_CHART or "")'),
        code('obn.draw(charts.error_rate(SPANS, EVERY, time="start", title="Error rate of spans") if obn.rows(SPANS) else None)'),
        code('obn.md("## Detection")\nobn.section(F, "first_error")\nobn.detection(F)'),
        code('obn.metrics_overview(METRICS, F, limit=3, kinds=metric_kinds)'),
        code('TL = obn.timeline_frame(F)\n'
             'obn.md("## Timeline (draft)\\n\\nEvery finding with a time, in order. Edit before publishing.")\n'
             'obn.show(TL, columns=["time", "end", "event", "kind", "detail"], max_rows=40)\n'
             'obn.draw(charts.incident_timeline(TL) if len(TL) else None, "Nothing to put on a timeline.")'),
        code('obn.md("## Silences")\nobn.section(F, "silence")\n' + SILENCE_CHART),
        code('obn.md("## Stalled and retried work")\nobn.section(F, "stall", "retry_storm")\n'
             'for storm in F.of("retry_storm")[:1]:\n'
             '    obn.show(obn.rows_about(LOGS, storm), max_rows=3, caption="Its last failures")'),
        code('obn.md("## Dependencies and latency")\nobn.section(F, "degraded_dependency", "latency_regression")\n'
             + DEPENDENCY_CHART),
        code('obn.md("## Root cause (draft)")\nobn.root_cause(F)'),
        code('obn.md("## Trigger")\nobn.section(F, "change")'),
        code('PICK = obn.trace_choice(F, SPANS, LOGS)\n'
             'TID = PICK.trace_id\n'
             'obn.md("## The trace that shows it")\n'
             'obn.why_this_trace(F, TID, None, PICK.why)\n'
             'WT = obn.timeline(TID, logs=LOGS, spans=SPANS) if TID else None\n'
             'if WT is not None:\n'
             '    obn.md("Trace `{tid}`: {n} spans and {m} log lines, joined across queues.", tid=TID,\n'
             '           n=int((WT["source"] == "span").sum()), m=int((WT["source"] == "log").sum()))\n'
             'obn.draw(charts.waterfall(WT.head(150), title="Spans and log events of the trace (first 150 rows)")\n'
             '         if WT is not None and (WT["source"] == "span").any() else None)'),
        code('if WT is not None:\n'
             '    obn.show(WT[WT["source"] == "log"], columns=obn.log_columns(WT, F), max_rows=15,\n'
             '             caption="Log lines of the trace")'),
        code('obn.md("## Resolution and recovery")\nobn.recovery(F)'),
        code('obn.md("## What the telemetry could not tell us")\nobn.section(F, "telemetry_gap", limit=12)\n'
             'obn.audit_table(AUDIT)'),
        code('obn.md("### Other signals")\nobn.section(F, "suspect", "new_pattern")'),
        code('obn.md("## Action items (draft — assign owners)")\nobn.show(obn.action_items(F))'),
        new_markdown_cell("## Lessons\n\n* What went well:\n* What went wrong:\n* Where we got lucky:"),
        code('obn.md("## All findings")\nobn.show(F.frame, columns=["rank", "kind", "entity_column", "entity_value", '
             '"start", "end", "summary"], max_rows=60)'),
    ],
)

TRIAGE = notebook(
    'obn.md("# Triage {incident}: the first fifteen minutes", incident=incident)\n'
    'obn.evidence(F, logs=logs, traces=traces, metrics=metrics)',
    [
        code('obn.md("## What stands out")\nobn.headline(F, limit=8)'),
        code('obn.md("## Error rate")\nobn.section(F, "error_spike", "first_error")\n'
             'NO_CHART = obn.no_error_chart(F, obn.rows(LOGS))\n'
             'obn.draw(charts.error_rate(LOGS, EVERY, title="Error rate of log lines") if NO_CHART is None else None,\n'
             '         NO_CHART or "")'),
        code('obn.md("## Which signals went silent")\nobn.section(F, "silence")\n' + SILENCE_CHART),
        code('obn.md("## Stuck and retried work")\nobn.section(F, "stall", "retry_storm")'),
        code('obn.md("## Dependencies")\nobn.section(F, "degraded_dependency", "latency_regression")\n' + DEPENDENCY_CHART),
        code('obn.md("## What changed")\nobn.section(F, "change")'),
        code('obn.md("## Suspects")\nobn.section(F, "suspect", "new_pattern")\nobn.section(F, "telemetry_gap")'),
        code(READING),
        code('obn.metrics_overview(METRICS, F, kinds=metric_kinds)'),
    ],
)

TRACE = notebook(
    'PICK = None if trace_id else obn.trace_choice(F, SPANS, LOGS)\n'
    'TID = trace_id or PICK.trace_id\n'
    'obn.md("# Trace {tid} ({incident})", tid=TID or "(none)", incident=incident)\n'
    'obn.trace_status(TID, trace_id, SPANS, LOGS)\n'
    'obn.why_this_trace(F, TID, trace_id, PICK.why if PICK else None)',
    [
        code('T = obn.timeline(TID, logs=LOGS, spans=SPANS) if obn.has_trace(TID, SPANS, LOGS) else None\n'
             'if T is not None:\n'
             '    obn.md("## Waterfall\\n\\n{n} spans and {m} log lines.", n=int((T["source"] == "span").sum()),\n'
             '           m=int((T["source"] == "log").sum()))\n'
             'obn.draw(charts.waterfall(T.head(150)) if T is not None and (T["source"] == "span").any() else None)'),
        code('if T is not None and (T["source"] == "span").any():\n'
             '    obn.md("## Critical path")\n'
             '    obn.show(obn.critical_path(SPANS, TID), columns=["name", "service", "kind", "start", "duration_ms",\n'
             '             "self_ms", "status"])'),
        code('if T is not None:\n'
             '    obn.md("## Joined logs")\n'
             '    obn.show(T[T["source"] == "log"], columns=obn.log_columns(T, F), max_rows=40)'),
        code('obn.md("## Findings about this trace")\nobn.findings_about_trace(F, T)'),
    ],
    extra_parameters="trace_id = None  # the trace to study (None: a failed trace of the window through the top finding)\n",
)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, nb in (("postmortem", POSTMORTEM), ("triage", TRIAGE), ("trace", TRACE)):
        for i, cell in enumerate(nb.cells):
            cell["id"] = f"{name}-{i:02d}"
        nbformat.validate(nb)
        nbformat.write(nb, str(OUT / f"{name}.ipynb"))
        print(OUT / f"{name}.ipynb")


if __name__ == "__main__":
    main()

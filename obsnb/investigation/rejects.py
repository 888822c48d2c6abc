"""The records the evidence's loads rejected, as findings: an investigation never reads as if they were not there.

A frame from :func:`obsnb.load` (or an ``ob.scan()``) remembers its load's accounting (:func:`obsnb.load_info`).
When records were rejected, a ``telemetry_gap`` finding says how many of how many were read and the most common
reason; when every record of a kind was rejected, it says the investigation has none of that kind and why,
ranked above the plain "no logs were loaded". Evidence without accounting (a frame made elsewhere) has none.
"""

from __future__ import annotations

from typing import Any

from .findings import Finding

__all__ = ["rejected_findings"]

_LABEL = {"logs": "log", "spans": "span", "metrics": "metric"}


def _info(obj: Any):
    from .. import api
    from ..errors import UsageError

    if obj is None or isinstance(obj, str) or hasattr(obj, "__fspath__"):
        return None
    try:
        return api.load_info(obj)
    except (UsageError, TypeError):
        return None


def rejected_findings(inputs: dict[str, Any], t0: int, t1: int) -> tuple[list[Finding], dict[str, int]]:
    """(findings, rejected records per kind) for the investigation's inputs (kind -> what was passed)."""
    out, counts = [], {}
    for kind, obj in inputs.items():
        info = _info(obj)
        if info is None or not info.n_rejected:
            continue
        counts[kind] = int(info.n_rejected)
        reasons = info.rejected_frame("polars").group_by("reason").len().sort(["len", "reason"], descending=[True, False])
        reason, k = reasons.row(0) if reasons.height else ("not kept", info.n_rejected)
        read, n = int(info.records_read), int(info.n_rejected)
        label = _LABEL[kind]
        nums = {f"{kind}_rejected": n, "records_read": read, "rows_loaded": int(info.rows_loaded),
                "top_reason": str(reason), "top_reason_records": int(k)}
        why = f"the most common reason: {reason} ({int(k):,} records)" if reasons.height > 1 else f"reason: {reason}"
        if info.rows_loaded == 0:
            summary = (f"All {read:,} {label} records read were rejected ({why}): this investigation has no {kind}, "
                       f"so nothing below comes from them; `ob.rejected(...)` lists each with its file, line and reason.")
            score = 30.0
        else:
            share = n / max(read, 1)
            summary = (f"{n:,} of {read:,} {label} records read ({share:.1%}) were rejected and are not in this "
                       f"investigation ({why}); `ob.rejected(...)` lists each with its file, line and reason.")
            score = 18.0 if share >= 0.01 else 8.0
        out.append(Finding("telemetry_gap", summary, nums, "ob.rejected(...)", score, "evidence", f"{kind}_rejected",
                           t0, t1))
    return out, counts

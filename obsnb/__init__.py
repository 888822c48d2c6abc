"""obsnb: investigate incidents in Jupyter.

Logs are evidence, metrics are signals, traces are context; ``trace_id`` ties them together.
``obsnb.load()`` turns files and backends into canonical frames; the analysis helpers answer the
questions asked at 3 AM; ``obsnb.charts`` draws them; ``obsnb render`` shares a self-contained report.

Importing obsnb is light: pandas, polars, DuckDB, altair and the notebook machinery are imported
only when first used.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

from .errors import (
    BackendError,
    BackendUnavailableError,
    BackendWarning,
    MissingDependencyError,
    ObsnbError,
    ObsnbWarning,
    ParseError,
    QueryError,
    RejectedRecordsWarning,
    ReportError,
    SourceError,
    TruncatedResultWarning,
    UsageError,
)

__version__ = "0.1.0"

# public name -> module that defines it (imported on first access)
_LAZY = {
    "load": "obsnb.api",
    "rejected": "obsnb.api",
    "load_info": "obsnb.api",
    "scan": "obsnb.scan",
    "set_option": "obsnb.options",
    "get_option": "obsnb.options",
    "latency": "obsnb.analysis",
    "histogram_quantile": "obsnb.analysis",
    "increase": "obsnb.analysis",
    "counter_rate": "obsnb.analysis",
    "irate": "obsnb.analysis",
    "delta": "obsnb.analysis",
    "idelta": "obsnb.analysis",
    "rate": "obsnb.analysis",
    "error_rate": "obsnb.analysis",
    "gaps": "obsnb.analysis",
    "stalls": "obsnb.analysis",
    "oldest_age": "obsnb.analysis",
    "retries": "obsnb.analysis",
    "timeline": "obsnb.analysis",
    "compare": "obsnb.analysis",
    "log_patterns": "obsnb.analysis",
    "with_patterns": "obsnb.analysis",
    "investigate": "obsnb.investigation",
    "audit": "obsnb.audit",
    "register_format": "obsnb.registry",
    "register_backend": "obsnb.registry",
    "setup": "obsnb.notebook",
    "sample_data_path": "obsnb.notebook",
    "load_incident": "obsnb.notebook",
    "snapshot": "obsnb.sources.snapshots",
    "remote_latency": "obsnb.analysis.remote",
    "remote_gaps": "obsnb.analysis.remote",
}
_SUBMODULES = {"charts", "report", "testing", "analysis", "schema", "timeutil", "registry", "cli", "notebook"}

__all__ = [
    "__version__",
    *sorted(_LAZY),
    "charts",
    "notebook",
    "report",
    "testing",
    "ObsnbError",
    "UsageError",
    "MissingDependencyError",
    "SourceError",
    "ParseError",
    "BackendError",
    "QueryError",
    "BackendUnavailableError",
    "ReportError",
    "ObsnbWarning",
    "RejectedRecordsWarning",
    "TruncatedResultWarning",
    "BackendWarning",
]


class _Package(types.ModuleType):
    """The package's module type: a submodule named like the function it defines (``obsnb.scan``,
    ``obsnb.audit``) never shadows that function. Importing the submodule (``from .audit import audit``
    anywhere) makes the import system set the package attribute to the module; here the attribute stays
    the function, so ``ob.audit(...)`` and ``ob.scan(...)`` work whatever was imported before.
    (``sys.modules["obsnb.scan"]`` is the module, for whoever needs it.)"""

    def __setattr__(self, name: str, value: Any) -> None:
        if (isinstance(value, types.ModuleType) and value.__name__ == f"{__name__}.{name}"
                and _LAZY.get(name) == value.__name__ and callable(getattr(value, name, None))):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        mod = importlib.import_module(f"obsnb.{name}")
        globals()[name] = mod
        return mod
    raise AttributeError(f"module 'obsnb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

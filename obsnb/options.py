"""The global options (``ob.set_option`` / ``ob.get_option``): the bottom layer, read by every layer above."""

from __future__ import annotations

import os
from typing import Any

from .errors import UsageError

__all__ = ["set_option", "get_option"]

_OPTIONS: dict[str, Any] = {"engine": "pandas", "config": None, "progress": True, "cache": None,
                            # the store (obsnb.cache): disk cap, rows per row group, piece size of a streamed ingest
                            "cache_max_bytes": 20 * 2**30, "cache_row_group": 65_536, "cache_chunk_bytes": 256 * 2**20,
                            # the largest record (line) a file reader takes, decompressed; a longer one is rejected
                            "max_record_bytes": 64 * 2**20,
                            # reports rendered by this process scrub e-mails and IP addresses (obsnb.scrub)
                            "scrub_pii": False}

# Set by obsnb's report renderer in the environment of the kernel running a notebook: "1" when that render
# scrubs personal data, "0" when it does not (see set_option's scrub_pii).
RENDER_SCRUB_ENV = "OBSNB_RENDER_SCRUB_PII"


def set_option(name: str, value: Any) -> None:
    """Set a global option.

    ``engine`` ("pandas" or "polars"), ``config`` (path of obsnb.toml), ``progress`` (progress bars for long
    backend fetches and long ingests), ``cache`` (a folder for the store, the Parquet copy of parsed files, or
    None: off), ``cache_max_bytes`` (the store's disk cap, default 20 GiB; None: no cap), ``cache_row_group``
    (rows per row group, default 65,536), ``cache_chunk_bytes`` (a line file larger than this, default 256 MiB,
    is ingested piece by piece of this size), ``max_record_bytes`` (the longest record, a line, a file reader
    takes, decompressed, default 64 MiB: a longer one is one rejected record, read in bounded memory; a file's
    total size is never capped; ``load(..., max_record_bytes=N)`` sets it for one load), ``scrub_pii`` (True:
    every report this Python process renders, ``report.render`` or ``obsnb.cli.main(["render", ...])``,
    replaces e-mails and IP addresses with pseudonyms as ``obsnb render --scrub-pii`` does; a render's own
    ``scrub=`` argument wins).

    A report is scrubbed by the process that renders it, after the notebook ran, so a notebook cannot turn
    scrubbing on for its own render: ``set_option("scrub_pii", True)`` inside a notebook that obsnb is
    rendering without scrubbing raises :class:`UsageError` (the render fails rather than publish what the
    notebook meant to hide; render it with ``--scrub-pii`` or ``[report] scrub_pii = true`` in obsnb.toml).
    """
    if name not in _OPTIONS:
        raise UsageError(f"unknown option {name!r}; options: {', '.join(sorted(_OPTIONS))}")
    if name == "engine" and value not in ("pandas", "polars"):
        raise UsageError(f"engine must be 'pandas' or 'polars', got {value!r}")
    positive = ("cache_row_group", "cache_chunk_bytes", "max_record_bytes")
    if name in positive and not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        raise UsageError(f"{name} must be a positive integer, got {value!r}")
    if name == "scrub_pii":
        if not isinstance(value, bool):
            raise UsageError(f"scrub_pii must be True or False, got {value!r}")
        if value and os.environ.get(RENDER_SCRUB_ENV) == "0":
            msg = ("set_option('scrub_pii', True) in a notebook that is being rendered without scrubbing: the "
                   "render decides, after the notebook ran, and this one does not scrub personal data. Render it "
                   "with `obsnb render NB --scrub-pii`, report.render(NB, scrub=True), or `[report] scrub_pii = "
                   "true` in obsnb.toml")
            raise UsageError(msg)
    _OPTIONS[name] = value


def get_option(name: str) -> Any:
    """The current value of a global option (see :func:`set_option`)."""
    return _OPTIONS[name]

"""The global options (``ob.set_option`` / ``ob.get_option``): the bottom layer, read by every layer above."""

from __future__ import annotations

from typing import Any

from .errors import UsageError

__all__ = ["set_option", "get_option"]

_OPTIONS: dict[str, Any] = {"engine": "pandas", "config": None, "progress": True, "cache": None,
                            # the store (obsnb.cache): disk cap, rows per row group, piece size of a streamed ingest
                            "cache_max_bytes": 20 * 2**30, "cache_row_group": 65_536, "cache_chunk_bytes": 256 * 2**20,
                            # the largest record (line) a file reader takes, decompressed; a longer one is rejected
                            "max_record_bytes": 64 * 2**20}


def set_option(name: str, value: Any) -> None:
    """Set a global option.

    ``engine`` ("pandas" or "polars"), ``config`` (path of obsnb.toml), ``progress`` (progress bars for long
    backend fetches and long ingests), ``cache`` (a folder for the store, the Parquet copy of parsed files, or
    None: off), ``cache_max_bytes`` (the store's disk cap, default 20 GiB; None: no cap), ``cache_row_group``
    (rows per row group, default 65,536), ``cache_chunk_bytes`` (a line file larger than this, default 256 MiB,
    is ingested piece by piece of this size), ``max_record_bytes`` (the longest record, a line, a file reader
    takes, decompressed, default 64 MiB: a longer one is one rejected record, read in bounded memory; a file's
    total size is never capped; ``load(..., max_record_bytes=N)`` sets it for one load).
    """
    if name not in _OPTIONS:
        raise UsageError(f"unknown option {name!r}; options: {', '.join(sorted(_OPTIONS))}")
    if name == "engine" and value not in ("pandas", "polars"):
        raise UsageError(f"engine must be 'pandas' or 'polars', got {value!r}")
    positive = ("cache_row_group", "cache_chunk_bytes", "max_record_bytes")
    if name in positive and not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        raise UsageError(f"{name} must be a positive integer, got {value!r}")
    _OPTIONS[name] = value


def get_option(name: str) -> Any:
    """The current value of a global option (see :func:`set_option`)."""
    return _OPTIONS[name]

"""The global options (``ob.set_option`` / ``ob.get_option``): the bottom layer, read by every layer above."""

from __future__ import annotations

from typing import Any

from .errors import UsageError

__all__ = ["set_option", "get_option"]

_OPTIONS: dict[str, Any] = {"engine": "pandas", "config": None, "progress": True, "cache": None}


def set_option(name: str, value: Any) -> None:
    """Set a global option.

    ``engine`` ("pandas" or "polars"), ``config`` (path of obsnb.toml), ``progress`` (progress bars for long
    backend fetches), ``cache`` (a folder for the Parquet cache of parsed files, or None: off).
    """
    if name not in _OPTIONS:
        raise UsageError(f"unknown option {name!r}; options: {', '.join(sorted(_OPTIONS))}")
    if name == "engine" and value not in ("pandas", "polars"):
        raise UsageError(f"engine must be 'pandas' or 'polars', got {value!r}")
    _OPTIONS[name] = value


def get_option(name: str) -> Any:
    """The current value of a global option (see :func:`set_option`)."""
    return _OPTIONS[name]

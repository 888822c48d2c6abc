"""Named sources from ``obsnb.toml`` (placeholder until the backends work lands)."""

from __future__ import annotations


def has_source(name: str) -> bool:
    return False

"""Readers: one module per file format or backend. See :mod:`obsnb.sources.base` for the interface."""

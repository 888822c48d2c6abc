"""The investigation of an incident: findings drawn from whatever evidence was loaded (``ob.investigate``).

=================  ==================================================================================
``core``           ``investigate()``: prepare the evidence, run every detector, rank the findings
``vocabulary``     how the evidence is read: entities, unit-of-work key, start/finish/fail events, ...
``context``        the prepared evidence of one investigation (window, baseline, error flags)
``findings``       ``Finding``/``Findings``: the findings as data, and their JSON schema
``detect_*``       one module per family of findings (errors, work, dependencies, changes)
=================  ==================================================================================
"""

from __future__ import annotations

from .core import investigate
from .findings import KINDS, SCHEMA, Finding, Findings
from .vocabulary import HINTS, Reading

__all__ = ["investigate", "Findings", "Finding", "Reading", "HINTS", "KINDS", "SCHEMA"]

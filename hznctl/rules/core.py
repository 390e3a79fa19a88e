"""The inventory's own consistency rules (references, primaries, processes, environments)."""

from __future__ import annotations

"""Targets: what `compile` writes for each kind of host."""

"""policy.yaml as an inventory kind: loaded, validated and given a schema like any other."""

from __future__ import annotations

from hznctl.inventory import POLICY as POLICY_KIND

__all__ = ["POLICY_KIND"]
